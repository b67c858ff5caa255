//! Greedy block coordinate descent (Nutini, Laradji, Schmidt, "Let's Make Block Coordinate
//! Descent Converge Faster", JMLR 2022; official code IssamLaradji/BlockCoordinateDescent),
//! issue 24 part 1: problems (least squares, logistic regression, label propagation on a
//! lattice, non-negative L1-regularised least squares), fixed and variable blocks, the
//! random/cyclic/Lipschitz and greedy GS/GSL/GSD/GSQ rules, forest blocks with message
//! passing, gradient, matrix, Newton and the projected (active-set) updates, and the
//! comparisons of the paper's figures.

pub mod block_qp;
pub mod compare;
pub mod descent;
pub mod forest;
pub mod line_search;
pub mod logistic;
pub mod objective;
pub mod quadratic;
pub mod selection;
pub mod update;
