//! The graphs gossip nodes average over: ring, torus, seeded random regular, full.

use crate::config::gossip::{GossipConfig, TopologyName};
use crate::rng::{Rng, Stream};
use crate::usage_error;
use std::collections::BTreeSet;

/// Random graphs drawn before a random regular graph is reported impossible (each draw
/// succeeds with probability near 1 for degrees well below the node count).
const REGULAR_ATTEMPTS: u64 = 1000;

/// An undirected simple graph: each node's neighbours, ascending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Graph {
    pub neighbours: Vec<Vec<usize>>,
}

impl Graph {
    fn from_edges(nodes: usize, edges: impl IntoIterator<Item = (usize, usize)>) -> Self {
        let mut sets = vec![BTreeSet::new(); nodes];
        for (a, b) in edges {
            if a != b {
                sets[a].insert(b);
                sets[b].insert(a);
            }
        }
        Self {
            neighbours: sets.into_iter().map(|s| s.into_iter().collect()).collect(),
        }
    }

    pub fn nodes(&self) -> usize {
        self.neighbours.len()
    }

    /// Whether every node can reach every other (gossip cannot reach consensus otherwise).
    pub fn is_connected(&self) -> bool {
        let mut seen = vec![false; self.nodes()];
        let mut stack = vec![0];
        while let Some(node) = stack.pop() {
            if !std::mem::replace(&mut seen[node], true) {
                stack.extend(self.neighbours[node].iter().filter(|&&n| !seen[n]));
            }
        }
        seen.iter().all(|&s| s)
    }
}

/// The graph `config` describes (drawn from `seed` for random_regular); impossible settings
/// are usage errors naming the key.
pub fn build(config: &GossipConfig, seed: u64) -> anyhow::Result<Graph> {
    let n = config.nodes;
    let fixed = match config.topology {
        TopologyName::Ring => Some(2),
        TopologyName::Torus => Some(4),
        TopologyName::Full => Some(n.saturating_sub(1)),
        TopologyName::RandomRegular => None,
    };
    if let (Some(fixed), Some(given)) = (fixed, config.degree)
        && fixed != given
    {
        return Err(usage_error!(
            "key `gossip.degree`: a {:?} topology of {n} nodes has degree {fixed}, got {given}; \
             leave gossip.degree out or use topology = \"random_regular\"",
            config.topology
        ));
    }
    match config.topology {
        TopologyName::Ring => {
            if n < 3 {
                return Err(usage_error!(
                    "key `gossip.nodes`: a ring needs at least 3 nodes, got {n}"
                ));
            }
            Ok(Graph::from_edges(n, (0..n).map(|i| (i, (i + 1) % n))))
        }
        TopologyName::Torus => {
            let (rows, cols) = torus_shape(n).ok_or_else(|| {
                usage_error!(
                    "key `gossip.nodes`: a torus needs nodes = rows x cols with both at least 3 \
                     (9, 12, 15, 16, ...), got {n}"
                )
            })?;
            let at = |r: usize, c: usize| (r % rows) * cols + c % cols;
            let edges = (0..rows).flat_map(|r| {
                (0..cols).flat_map(move |c| [(at(r, c), at(r, c + 1)), (at(r, c), at(r + 1, c))])
            });
            Ok(Graph::from_edges(n, edges))
        }
        TopologyName::Full => {
            if n < 2 {
                return Err(usage_error!(
                    "key `gossip.nodes`: gossip needs at least 2 nodes, got {n}"
                ));
            }
            let edges = (0..n).flat_map(|a| (a + 1..n).map(move |b| (a, b)));
            Ok(Graph::from_edges(n, edges))
        }
        TopologyName::RandomRegular => {
            let degree = config.degree.ok_or_else(|| {
                usage_error!("key `gossip.degree`: a random_regular topology needs a degree")
            })?;
            if degree == 0 || degree >= n || (n * degree) % 2 == 1 {
                return Err(usage_error!(
                    "key `gossip.degree`: a random regular graph of {n} nodes needs a degree in \
                     1..{n} with nodes x degree even, got {degree}"
                ));
            }
            (0..REGULAR_ATTEMPTS)
                .find_map(|attempt| {
                    let mut rng = Rng::new(seed, Stream::Gossip, u64::MAX - 1, attempt);
                    random_regular(n, degree, &mut rng)
                        .map(|edges| Graph::from_edges(n, edges))
                        .filter(Graph::is_connected)
                })
                .ok_or_else(|| {
                    usage_error!(
                        "key `gossip.degree`: no connected {degree}-regular graph of {n} nodes \
                         found in {REGULAR_ATTEMPTS} draws; choose another degree"
                    )
                })
        }
    }
}

/// rows x cols = n with rows the largest divisor up to sqrt(n), both at least 3.
fn torus_shape(n: usize) -> Option<(usize, usize)> {
    let rows = (3..=n.isqrt()).rev().find(|r| n.is_multiple_of(*r))?;
    Some((rows, n / rows))
}

/// One try of the pairing model that only pairs suitable stubs (Steger and Wormald, 1999):
/// shuffle the unpaired stubs, join consecutive pairs that make a new edge between distinct
/// nodes, put the others back, and give up when no pair of what is left could be joined.
fn random_regular(n: usize, degree: usize, rng: &mut Rng) -> Option<BTreeSet<(usize, usize)>> {
    let mut edges = BTreeSet::new();
    let mut stubs: Vec<usize> = (0..n)
        .flat_map(|v| std::iter::repeat_n(v, degree))
        .collect();
    while !stubs.is_empty() {
        let order = rng.permutation(stubs.len());
        let shuffled: Vec<usize> = order.iter().map(|&i| stubs[i]).collect();
        let mut left = Vec::new();
        for pair in shuffled.chunks(2) {
            let (a, b) = (pair[0].min(pair[1]), pair[0].max(pair[1]));
            if a != b && edges.insert((a, b)) {
                continue;
            }
            left.extend([a, b]);
        }
        let open: BTreeSet<usize> = left.iter().copied().collect();
        let joinable = open
            .iter()
            .any(|&a| open.range(a + 1..).any(|&b| !edges.contains(&(a, b))));
        if !left.is_empty() && !joinable {
            return None;
        }
        stubs = left;
    }
    Some(edges)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(nodes: usize, topology: TopologyName, degree: Option<usize>) -> GossipConfig {
        GossipConfig {
            nodes,
            topology,
            degree,
            self_weight: 0.5,
            variance_correction: false,
            rounds: 1,
            local_steps: 1,
            shared_init: false,
            partition: Default::default(),
            alpha: 0.5,
            eval_images: 0,
            evaluate_every: 1,
        }
    }

    #[test]
    fn fixed_topologies_have_their_neighbours() {
        let ring = build(&config(5, TopologyName::Ring, None), 0).unwrap();
        assert_eq!(ring.neighbours[0], vec![1, 4]);
        assert_eq!(ring.neighbours[2], vec![1, 3]);
        // 12 nodes: a 3 x 4 torus; node 5 = (1, 1) neighbours (0,1)=1, (2,1)=9, (1,0)=4, (1,2)=6.
        let torus = build(&config(12, TopologyName::Torus, None), 0).unwrap();
        assert_eq!(torus.neighbours[5], vec![1, 4, 6, 9]);
        assert!(torus.neighbours.iter().all(|n| n.len() == 4));
        let full = build(&config(4, TopologyName::Full, None), 0).unwrap();
        assert_eq!(full.neighbours[2], vec![0, 1, 3]);
    }

    #[test]
    fn random_regular_graphs_are_regular_simple_connected_and_seeded() {
        for (n, d) in [(50, 8), (10, 3), (16, 4), (7, 2), (100, 9)] {
            let graph = build(&config(n, TopologyName::RandomRegular, Some(d)), 3).unwrap();
            assert!(graph.is_connected());
            for (v, list) in graph.neighbours.iter().enumerate() {
                assert_eq!(list.len(), d, "node {v} of a {d}-regular graph of {n}");
                assert!(!list.contains(&v));
                assert!(list.iter().all(|&u| graph.neighbours[u].contains(&v)));
            }
            let again = build(&config(n, TopologyName::RandomRegular, Some(d)), 3).unwrap();
            assert_eq!(graph, again);
        }
        let a = build(&config(50, TopologyName::RandomRegular, Some(8)), 1).unwrap();
        let b = build(&config(50, TopologyName::RandomRegular, Some(8)), 2).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn impossible_graphs_are_errors_naming_the_key() {
        let cases = [
            (
                config(5, TopologyName::RandomRegular, Some(3)),
                "gossip.degree",
            ),
            (
                config(5, TopologyName::RandomRegular, Some(5)),
                "gossip.degree",
            ),
            (
                config(5, TopologyName::RandomRegular, None),
                "gossip.degree",
            ),
            (config(10, TopologyName::Torus, None), "gossip.nodes"),
            (config(2, TopologyName::Ring, None), "gossip.nodes"),
            (config(6, TopologyName::Ring, Some(3)), "gossip.degree"),
        ];
        for (config, key) in cases {
            let error = build(&config, 0).unwrap_err().to_string();
            assert!(error.contains(key), "{error}");
        }
    }
}
