import TesseraCore

/// A seeded product ontology: a category tree (departments → categories → products), attributes
/// with values (colour, material, connector), and a compatibility relation. In every department
/// the first category holds devices and the others accessories; an accessory category fits its
/// own department's devices, and the last accessory category of a department also fits the next
/// department's devices. An accessory is compatible with a device when their categories fit and
/// their connectors are the same.
///
/// Every entity has a token (products, categories, departments, colours, materials, connectors,
/// in that order from 0), and the ontology is a graph over those tokens (``edges``). The query
/// words of the product tasks follow the entities (``ProductVocabulary``).
public struct ProductOntology: Codable, Sendable, Equatable {
  public let departments: Int
  public let categoriesPerDepartment: Int
  public let productsPerCategory: Int
  public let colors: Int
  public let materials: Int
  public let connectors: Int
  /// Each product's colour, material and connector (value indices).
  public let productColor: [Int]
  public let productMaterial: [Int]
  public let productConnector: [Int]
  public let seed: UInt64

  /// Four departments of three categories of six products; 8 colours, 6 materials, 4 connectors.
  public init(
    departments: Int = 4, categoriesPerDepartment: Int = 3, productsPerCategory: Int = 6, colors: Int = 8,
    materials: Int = 6, connectors: Int = 4, seed: UInt64 = 0
  ) {
    check(departments >= 2, "ProductOntology: need at least two departments")
    check(categoriesPerDepartment >= 2, "ProductOntology: a department needs a device and an accessory category")
    check(
      productsPerCategory >= 1 && colors >= 2 && materials >= 2 && connectors >= 2, "ProductOntology: empty attribute")
    self.departments = departments
    self.categoriesPerDepartment = categoriesPerDepartment
    self.productsPerCategory = productsPerCategory
    self.colors = colors
    self.materials = materials
    self.connectors = connectors
    self.seed = seed
    let products = departments * categoriesPerDepartment * productsPerCategory
    var rng = RandomGenerator(seed: seed).fork("product-ontology")
    productColor = rng.integers([products], in: 0..<colors).values
    productMaterial = rng.integers([products], in: 0..<materials).values
    productConnector = rng.integers([products], in: 0..<connectors).values
  }

  public var categories: Int { departments * categoriesPerDepartment }
  public var products: Int { categories * productsPerCategory }

  public func category(ofProduct p: Int) -> Int { p / productsPerCategory }
  public func department(ofCategory c: Int) -> Int { c / categoriesPerDepartment }
  public func department(ofProduct p: Int) -> Int { department(ofCategory: category(ofProduct: p)) }
  /// Whether category `c` holds devices (the first of its department) rather than accessories.
  public func isDevice(category c: Int) -> Bool { c % categoriesPerDepartment == 0 }

  /// Whether accessories of category `accessory` fit devices of category `device`.
  public func fits(accessory: Int, device: Int) -> Bool {
    guard !isDevice(category: accessory), isDevice(category: device) else { return false }
    let own = department(ofCategory: accessory)
    if department(ofCategory: device) == own { return true }
    let last = accessory % categoriesPerDepartment == categoriesPerDepartment - 1
    return last && department(ofCategory: device) == (own + 1) % departments
  }

  /// Whether the categories of products `a` and `b` fit (one an accessory, the other a device it fits).
  public func categoriesFit(_ a: Int, _ b: Int) -> Bool {
    let (ca, cb) = (category(ofProduct: a), category(ofProduct: b))
    return fits(accessory: ca, device: cb) || fits(accessory: cb, device: ca)
  }

  /// Products `a` and `b` are compatible: their categories fit and their connectors are the same.
  public func compatible(_ a: Int, _ b: Int) -> Bool {
    categoriesFit(a, b) && productConnector[a] == productConnector[b]
  }

  // MARK: Entity tokens

  public func productToken(_ p: Int) -> Int { p }
  public func categoryToken(_ c: Int) -> Int { products + c }
  public func departmentToken(_ d: Int) -> Int { products + categories + d }
  public func colorToken(_ v: Int) -> Int { products + categories + departments + v }
  public func materialToken(_ v: Int) -> Int { colorToken(colors) + v }
  public func connectorToken(_ v: Int) -> Int { materialToken(materials) + v }
  /// Tokens `0..<entities` name the ontology's entities (the nodes of ``edges``).
  public var entities: Int { connectorToken(connectors) }

  /// The ontology as an undirected graph over entity tokens, each link as two directed edges:
  /// product–category, product–colour, product–material, product–connector,
  /// category–department, and accessory category–device category where they fit.
  public var edges: (sources: [Int], targets: [Int]) {
    var sources: [Int] = [], targets: [Int] = []
    func link(_ a: Int, _ b: Int) {
      sources += [a, b]
      targets += [b, a]
    }
    for p in 0..<products {
      link(productToken(p), categoryToken(category(ofProduct: p)))
      link(productToken(p), colorToken(productColor[p]))
      link(productToken(p), materialToken(productMaterial[p]))
      link(productToken(p), connectorToken(productConnector[p]))
    }
    for c in 0..<categories { link(categoryToken(c), departmentToken(department(ofCategory: c))) }
    for a in 0..<categories {
      for d in 0..<categories where fits(accessory: a, device: d) { link(categoryToken(a), categoryToken(d)) }
    }
    return (sources, targets)
  }
}

/// A stable hash of a few integers and a seed (SplitMix64 steps): which facts or pairs a task
/// holds out, the same on every machine.
func stableHash(_ values: [Int], seed: UInt64) -> UInt64 {
  var h = seed &+ 0x9E37_79B9_7F4A_7C15
  for v in values {
    h ^= UInt64(bitPattern: Int64(v)) &+ 0x9E37_79B9_7F4A_7C15 &+ (h << 6) &+ (h >> 2)
    h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
    h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
    h ^= h >> 31
  }
  return h
}
