//! Optimizer states as Burn records. Burn's `#[derive(RecordState)]` only works inside
//! burn-optim (it names `crate::`), so stoke's states implement the trait with this macro:
//! every field is a tensor of the parameter's shape or a scalar step counter.

/// Implements [`burn::optim::RecordState`] and a `moved_to(device)` method for a state struct
/// `Name<const D: usize> { tensor fields...; scalar fields: type... }`.
macro_rules! record_state {
    ($name:ident { $($tensor:ident),* ; $($scalar:ident : $ty:ty),* }) => {
        impl<const D: usize> burn::optim::RecordState for $name<D> {
            fn state_flatten(&self, prefix: &str, out: &mut burn::optim::StateSink) {
                $(out.push_tensor(prefix, stringify!($tensor), self.$tensor.clone().into_data());)*
                $(out.push_scalar(
                    prefix,
                    stringify!($scalar),
                    burn_pack::Scalar::from(self.$scalar),
                );)*
            }

            fn state_unflatten(
                prefix: &str,
                src: &mut burn::optim::StateSource,
                device: &burn::tensor::Device,
            ) -> Option<Self> {
                $(let $tensor = burn::tensor::Tensor::<D>::from_data(
                    src.take_tensor(prefix, stringify!($tensor))?,
                    device,
                );)*
                $(let $scalar = <$ty>::try_from(src.take_scalar(prefix, stringify!($scalar))?).ok()?;)*
                Some(Self { $($tensor,)* $($scalar,)* })
            }
        }

        impl<const D: usize> $name<D> {
            fn moved_to(self, device: &burn::tensor::Device) -> Self {
                Self {
                    $($tensor: self.$tensor.to_device(device),)*
                    $($scalar: self.$scalar,)*
                }
            }
        }
    };
}

pub(crate) use record_state;
