//! Greedy block coordinate descent (Nutini, Laradji, Schmidt, JMLR 2022), issue 24 part 1,
//! in progress: quadratic problems (least squares, lattice label propagation), fixed and
//! variable blocks, the random/cyclic/Lipschitz and greedy GS/GSL/GSD/GSQ rules, gradient
//! and matrix updates. Not yet built: logistic and softmax losses, the message-passing
//! (forest) blocks, the active-set and Newton-with-line-search variants, the command.

pub mod descent;
pub mod quadratic;
pub mod selection;
