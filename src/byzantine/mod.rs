//! Byzantine-robust distributed training as a driver around [`crate::Trainer`]: n workers
//! compute gradients on their shares of the data ([`crate::federated::partition`]'s
//! splits), the last f of them attack ([`attack`]), and the server steps on what a rule of
//! [`crate::aggregate`] makes of them ([`driver::run`], what `stoke train` calls for a
//! config with a `[byzantine]` section).

pub mod attack;
pub mod driver;
