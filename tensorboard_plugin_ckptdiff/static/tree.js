/** Group rows into a collapsible layer tree and flatten the open part of it into display rows. */

/** The layer path a variable sits in: its readable name up to the last "/". */
export function scopeOf(name) {
  const i = name.lastIndexOf("/");
  return i < 0 ? "" : name.slice(0, i);
}

/** The name a diff entry is grouped and shown by: the base's (the model's) name, else the target's. */
export function entryName(entry) {
  const side = entry.base || entry.target;
  return side ? side.name : "";
}

function newNode(label, path, depth) {
  return { label, path, depth, children: new Map(), items: [], counts: Object.create(null), total: 0 };
}

/**
 * A tree of scopes. Items keep their input order inside a scope, and scopes appear in the
 * order their first item did, so a sorted input gives a sorted tree. A scope with a single
 * child scope and no items of its own is merged into it ("model/layer_with_weights-0"),
 * which keeps deep object paths from becoming a staircase of one-child folders.
 */
export function buildTree(items, { nameOf = entryName, statusOf = (e) => e.status } = {}) {
  const root = newNode("", "", -1);
  const byScope = new Map([["", root]]); // most variables share a scope with the one before
  for (const item of items) {
    const scope = scopeOf(nameOf(item));
    let node = byScope.get(scope);
    if (!node) {
      node = root;
      let path = "";
      for (const part of scope.split("/")) {
        path = path ? path + "/" + part : part;
        let child = node.children.get(part);
        if (!child) {
          child = newNode(part, path, node.depth + 1);
          node.children.set(part, child);
        }
        node = child;
      }
      byScope.set(scope, node);
    }
    node.items.push(item);
  }
  countAndMerge(root, statusOf);
  setDepths(root);
  return root;
}

function countAndMerge(node, statusOf) {
  for (const item of node.items) {
    const s = statusOf(item);
    node.counts[s] = (node.counts[s] || 0) + 1;
    node.total += 1;
  }
  const merged = new Map();
  for (let [key, child] of node.children) {
    while (child.items.length === 0 && child.children.size === 1) {
      const [only] = child.children.values();
      only.label = child.label + "/" + only.label;
      child = only;
    }
    countAndMerge(child, statusOf);
    for (const s in child.counts) node.counts[s] = (node.counts[s] || 0) + child.counts[s];
    node.total += child.total;
    merged.set(key, child);
  }
  node.children = merged;
}

function setDepths(node) {
  for (const child of node.children.values()) {
    child.depth = node.depth + 1;
    setDepths(child);
  }
}

/**
 * Display rows of the open part of the tree, depth first: {type: "group", node, depth, open}
 * then its items as {type: "item", item, depth}. Items of a scope come before its sub-scopes,
 * the way a file lists a layer's own variables before its sublayers'.
 */
export function flatten(root, collapsed = new Set()) {
  const rows = [];
  const walk = (node) => {
    for (const item of node.items) rows.push({ type: "item", item, depth: node.depth + 1 });
    for (const child of node.children.values()) {
      const open = !collapsed.has(child.path);
      rows.push({ type: "group", node: child, depth: child.depth, open });
      if (open) walk(child);
    }
  };
  walk(root);
  return rows;
}

/** Every scope path of the tree: "collapse all" puts them all in the collapsed set. */
export function allPaths(root) {
  const paths = [];
  const walk = (node) => {
    for (const child of node.children.values()) {
      paths.push(child.path);
      walk(child);
    }
  };
  walk(root);
  return paths;
}
