//! Forest-structured blocks for sparse quadratics (the paper's message passing): a block
//! whose coordinates induce a forest in the Hessian's graph is minimised exactly in O(|b|)
//! by Gaussian elimination from the leaves (the serial schedule of Gaussian belief
//! propagation). Blocks are grown greedily, skipping a coordinate that would close a cycle
//! (the official code's `get_tree_slow`), or taken from the lattice's two-colour
//! (red-black) and two-forest (tree partition) layouts of the official `get_rb_indices` and
//! `get_tp_indices`.

use super::objective::Objective;

/// The sparsity graph of a sparse Hessian.
#[derive(Clone, Debug)]
pub struct Graph {
    /// Sorted neighbours of each coordinate (no self loops).
    pub neighbours: Vec<Vec<usize>>,
    pub lattice: Option<Lattice>,
}

/// Where the coordinates sit on a side x side lattice (node = column * side + row, the
/// official code's column-major numbering); labelled nodes have no coordinate.
#[derive(Clone, Debug)]
pub struct Lattice {
    pub side: usize,
    /// The lattice node of each coordinate.
    pub node_of: Vec<usize>,
}

impl Graph {
    /// The nonzero pattern of a dense row-major symmetric n x n matrix.
    pub fn from_dense(q: &[f64], n: usize) -> Self {
        let neighbours = (0..n)
            .map(|i| (0..n).filter(|&j| j != i && q[i * n + j] != 0.0).collect())
            .collect();
        Self {
            neighbours,
            lattice: None,
        }
    }

    pub fn with_lattice(mut self, lattice: Lattice) -> Self {
        self.lattice = Some(lattice);
        self
    }
}

/// Union-find with path halving.
struct Trees {
    parent: Vec<usize>,
}

impl Trees {
    fn root(&mut self, mut v: usize) -> usize {
        while self.parent[v] != v {
            self.parent[v] = self.parent[self.parent[v]];
            v = self.parent[v];
        }
        v
    }
}

/// Visits `order` and keeps each coordinate whose neighbours already in the block lie in
/// distinct trees (adding it then joins them without a cycle). Returns the sorted block.
pub fn grow_forest(order: impl IntoIterator<Item = usize>, graph: &Graph) -> Vec<usize> {
    let n = graph.neighbours.len();
    let mut trees = Trees {
        parent: (0..n).collect(),
    };
    let mut member = vec![false; n];
    let mut roots = Vec::new();
    for v in order {
        roots.clear();
        for &u in &graph.neighbours[v] {
            if member[u] {
                roots.push(trees.root(u));
            }
        }
        let count = roots.len();
        roots.sort_unstable();
        roots.dedup();
        if roots.len() < count {
            continue;
        }
        member[v] = true;
        for &r in &roots {
            trees.parent[r] = v;
        }
    }
    (0..n).filter(|&v| member[v]).collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LatticeLayout {
    /// Two colours of a checkerboard: each block's Hessian is diagonal.
    RedBlack,
    /// Two combs (a spine along the first or last row with teeth down alternate columns),
    /// each a tree.
    TreePartition,
}

/// The lattice layout's blocks restricted to the coordinates (labelled nodes dropped), in
/// the official code's order; `None` when the graph is not a lattice.
pub fn lattice_blocks(graph: &Graph, layout: LatticeLayout) -> Option<Vec<Vec<usize>>> {
    let lattice = graph.lattice.as_ref()?;
    let side = lattice.side;
    // The official order: red before black; the "black" comb (the last row, and the odd
    // columns below the first row) before the "white" one (the first row, and the even
    // columns above the last row).
    let in_first = |node: usize| {
        let (row, column) = (node % side, node / side);
        match layout {
            LatticeLayout::RedBlack => (row + column).is_multiple_of(2),
            LatticeLayout::TreePartition => !(row == 0 || (column % 2 == 0 && row + 1 < side)),
        }
    };
    let mut blocks = vec![Vec::new(), Vec::new()];
    for (coordinate, &node) in lattice.node_of.iter().enumerate() {
        blocks[if in_first(node) { 0 } else { 1 }].push(coordinate);
    }
    blocks.retain(|b| !b.is_empty());
    Some(blocks)
}

/// Solves M_bb d = rhs for a block that is a forest of the problem's graph, leaves first:
/// eliminating a leaf v into its parent p subtracts M_pv^2 / D_v from D_p and
/// M_pv r_v / D_v from r_p; back substitution then runs from the roots. `None` when the
/// problem has no graph, the block is not a forest, or a pivot is not positive.
pub fn solve_forest(problem: &dyn Objective, block: &[usize], rhs: &[f64]) -> Option<Vec<f64>> {
    let graph = problem.graph()?;
    let n = graph.neighbours.len();
    let mut position = vec![usize::MAX; n];
    for (k, &v) in block.iter().enumerate() {
        position[v] = k;
    }
    let size = block.len();
    let mut parent = vec![usize::MAX; size];
    let mut visited = vec![false; size];
    let mut order = Vec::with_capacity(size);
    for root in 0..size {
        if visited[root] {
            continue;
        }
        visited[root] = true;
        let start = order.len();
        order.push(root);
        let mut head = start;
        while head < order.len() {
            let k = order[head];
            head += 1;
            for &u in &graph.neighbours[block[k]] {
                let j = position[u];
                if j == usize::MAX || j == parent[k] {
                    continue;
                }
                if visited[j] {
                    return None; // a second path to j: a cycle
                }
                visited[j] = true;
                parent[j] = k;
                order.push(j);
            }
        }
    }
    let mut pivot: Vec<f64> = block.iter().map(|&v| problem.bound_entry(v, v)).collect();
    let mut r = rhs.to_vec();
    for &k in order.iter().rev() {
        if pivot[k].is_nan() || pivot[k] <= 0.0 {
            return None;
        }
        let p = parent[k];
        if p != usize::MAX {
            let m = problem.bound_entry(block[p], block[k]);
            pivot[p] -= m * m / pivot[k];
            r[p] -= m * r[k] / pivot[k];
        }
    }
    let mut d = vec![0.0; size];
    for &k in &order {
        let p = parent[k];
        let coupling = if p == usize::MAX {
            0.0
        } else {
            problem.bound_entry(block[k], block[p]) * d[p]
        };
        d[k] = (r[k] - coupling) / pivot[k];
    }
    Some(d)
}
