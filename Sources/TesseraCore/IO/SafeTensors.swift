import Foundation

/// Reads and writes the safetensors format (Hugging Face): an 8-byte little-endian header
/// length, a JSON header mapping each name to `dtype`, `shape` and `data_offsets`, then the raw
/// little-endian data. Tessera tensors are float32; F16, BF16 and F64 entries are converted on
/// read. Checkpoints (TesseraNN) and the golden reference vectors use this reader.
public enum SafeTensors {
  /// A failure to read or write a safetensors file, naming the file and the problem.
  public struct Error: Swift.Error, CustomStringConvertible {
    public let path: String
    public let problem: String
    public var description: String { "\(path): \(problem)" }
    public init(path: String, problem: String) {
      self.path = path
      self.problem = problem
    }
  }

  /// The tensors and the free-form `__metadata__` strings of one file.
  public struct Contents {
    public var tensors: [String: Tensor]
    public var metadata: [String: String]
  }

  /// Reads every tensor of the file at `path`.
  public static func read(_ path: String) throws -> Contents {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw Error(path: path, problem: "cannot read the file")
    }
    return try decode(data, path: path)
  }

  /// Decodes safetensors bytes; `path` only labels errors.
  public static func decode(_ data: Data, path: String = "<data>") throws -> Contents {
    guard data.count >= 8 else {
      throw Error(path: path, problem: "too short for a safetensors header (\(data.count) bytes)")
    }
    let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) {
      $0 | UInt64($1.element) << (8 * UInt64($1.offset))
    }
    guard headerLength <= UInt64(data.count - 8) else {
      throw Error(path: path, problem: "header length \(headerLength) exceeds the file size \(data.count)")
    }
    let headerData = data.subdata(in: 8..<(8 + Int(headerLength)))
    guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
      throw Error(path: path, problem: "the header is not a JSON object")
    }
    let body = data.subdata(in: (8 + Int(headerLength))..<data.count)
    var tensors: [String: Tensor] = [:]
    var metadata: [String: String] = [:]
    for (name, value) in header {
      if name == "__metadata__" {
        for (k, v) in value as? [String: Any] ?? [:] { metadata[k] = v as? String ?? "\(v)" }
        continue
      }
      guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
        let shape = (entry["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
        let offsets = (entry["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }), offsets.count == 2
      else { throw Error(path: path, problem: "tensor \"\(name)\" has a malformed header entry") }
      let count = Shape.count(shape)
      let width: Int
      switch dtype {
      case "F32": width = 4
      case "F16", "BF16": width = 2
      case "F64": width = 8
      default: throw Error(path: path, problem: "tensor \"\(name)\" has dtype \(dtype); supported: F32, F16, BF16, F64")
      }
      guard offsets[0] >= 0, offsets[1] == offsets[0] + count * width, offsets[1] <= body.count else {
        throw Error(
          path: path,
          problem:
            "tensor \"\(name)\" has data_offsets \(offsets) that do not fit shape \(shape) of \(dtype) in \(body.count) data bytes"
        )
      }
      var t = Tensor(uninitializedShape: shape)
      t.withMutableScalars { out in
        body.withUnsafeBytes { raw in
          let bytes = raw.baseAddress! + offsets[0]
          for i in 0..<count {
            switch width {
            case 4:
              out[i] = Float(
                bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            case 8:
              out[i] = Float(
                Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
            default:
              let h = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
              out[i] = dtype == "BF16" ? Float(bitPattern: UInt32(h) << 16) : Float(Float16(bitPattern: h))
            }
          }
        }
      }
      tensors[name] = t
    }
    return Contents(tensors: tensors, metadata: metadata)
  }

  /// Encodes tensors as float32 safetensors, names sorted, data in that order.
  public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:]) -> Data {
    let names = tensors.keys.sorted()
    var entries: [String] = []
    if !metadata.isEmpty {
      let fields = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
      entries.append("\"__metadata__\":{\(fields.joined(separator: ","))}")
    }
    var offset = 0
    for name in names {
      let t = tensors[name]!
      let end = offset + t.count * 4
      entries.append(
        "\(jsonString(name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(end)]}"
      )
      offset = end
    }
    var header = Array("{\(entries.joined(separator: ","))}".utf8)
    while header.count % 8 != 0 { header.append(0x20) }
    var data = Data(capacity: 8 + header.count + offset)
    var length = UInt64(header.count).littleEndian
    withUnsafeBytes(of: &length) { data.append(contentsOf: $0) }
    data.append(contentsOf: header)
    for name in names {
      tensors[name]!.withScalars { buffer in
        for v in buffer {
          var bits = v.bitPattern.littleEndian
          withUnsafeBytes(of: &bits) { data.append(contentsOf: $0) }
        }
      }
    }
    return data
  }

  /// Writes tensors to `path` atomically (a temporary file renamed into place).
  public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to path: String) throws {
    do {
      try encode(tensors, metadata: metadata).write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
      throw Error(path: path, problem: "cannot write: \(error.localizedDescription)")
    }
  }

  static func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      default:
        if scalar.value < 0x20 {
          out += String(format: "\\u%04x", scalar.value)
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    return out + "\""
  }
}
