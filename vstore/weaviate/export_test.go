package weaviate

// ItemUUID exposes itemUUID to the package's external tests: the object id
// of an item in the items class and in every image space's class, which
// the fault tests look up on each node.
var ItemUUID = itemUUID
