//! A model's float tensors by name, in host memory: what drivers (federated averaging, soups,
//! merging, gradient aggregation) move between Trainers and do arithmetic on.
//!
//! Names and layout are those `stoke export` writes (PyTorch conventions: the module path
//! joined by dots, batch-norm `gamma`/`beta` as `weight`/`bias`, linear weights as
//! `[out, in]`), so a file written by `stoke export` and the weights of a Trainer agree
//! tensor for tensor. Each tensor is tagged as a trainable [`TensorKind::Parameter`] or a
//! [`TensorKind::Buffer`] (batch-norm running statistics, frozen copies such as an EMA), so a
//! driver averages parameters and decides on buffers deliberately.

use crate::atomic::write_atomic;
use anyhow::Context;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::TensorData;
use safetensors::tensor::{Dtype, TensorView};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Whether the optimizer trains a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TensorKind {
    /// Trained by the optimizer (has a gradient).
    Parameter,
    /// Carried along but not trained: batch-norm running statistics, frozen weights.
    Buffer,
}

/// One named tensor: row-major f32 values of `shape`.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
    pub kind: TensorKind,
}

/// Named f32 tensors of a model (or its gradients), ordered by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Weights {
    tensors: BTreeMap<String, WeightTensor>,
}

/// Tracks a visitor's position as the export name of the tensor it is at.
#[derive(Default)]
pub(crate) struct NamePath {
    path: Vec<String>,
    /// Inside a `Linear` (whose 2-D weight is stored transposed).
    linear: bool,
}

impl NamePath {
    pub(crate) fn enter(&mut self, name: &str, container_type: &str) {
        if container_type == "Struct:Linear" {
            self.linear = true;
        }
        // Enum variants (e.g. `Basic` in ResNet's block enum) are not part of PyTorch names.
        if !container_type.starts_with("Enum:") {
            self.path.push(name.to_string());
        }
    }

    pub(crate) fn exit(&mut self, container_type: &str) {
        if container_type == "Struct:Linear" {
            self.linear = false;
        }
        if !container_type.starts_with("Enum:") {
            self.path.pop();
        }
    }

    /// The export name of the tensor here, and whether it is stored transposed.
    pub(crate) fn name(&self, rank: usize) -> (String, bool) {
        let mut names = self.path.clone();
        if let Some(last) = names.last_mut() {
            match last.as_str() {
                "gamma" => *last = "weight".into(),
                "beta" => *last = "bias".into(),
                _ => {}
            }
        }
        let transposed = self.linear && rank == 2 && names.last().is_some_and(|n| n == "weight");
        (names.join("."), transposed)
    }
}

/// Visits each float tensor of a module with its export name (see [`NamePath`]).
pub(crate) trait NamedVisit {
    fn tensor<const D: usize>(&mut self, name: String, transposed: bool, param: &Param<Tensor<D>>);
}

/// Runs a [`NamedVisit`] over `model`, tracking the names.
pub(crate) fn visit_named<M: Module, V: NamedVisit>(model: &M, inner: V) -> V {
    struct Named<V> {
        at: NamePath,
        inner: V,
    }
    impl<V: NamedVisit> ModuleVisitor for Named<V> {
        fn enter_module(&mut self, name: &str, container_type: &str) {
            self.at.enter(name, container_type);
        }
        fn exit_module(&mut self, _name: &str, container_type: &str) {
            self.at.exit(container_type);
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let (name, transposed) = self.at.name(D);
            self.inner.tensor(name, transposed, param);
        }
    }
    let mut named = Named {
        at: NamePath::default(),
        inner,
    };
    model.visit(&mut named);
    named.inner
}

/// Reads every float tensor, or only those with a gradient in `grads`.
struct Reader<'a> {
    tensors: BTreeMap<String, WeightTensor>,
    trainable: &'a BTreeSet<String>,
    buffers_only: bool,
}

impl NamedVisit for Reader<'_> {
    fn tensor<const D: usize>(&mut self, name: String, transposed: bool, param: &Param<Tensor<D>>) {
        let kind = match self.trainable.contains(&name) {
            true if self.buffers_only => return,
            true => TensorKind::Parameter,
            false => TensorKind::Buffer,
        };
        self.tensors
            .insert(name, host_tensor(param.val(), transposed, kind));
    }
}

fn host_tensor<const D: usize>(
    mut tensor: Tensor<D>,
    transposed: bool,
    kind: TensorKind,
) -> WeightTensor {
    if transposed {
        tensor = tensor.transpose();
    }
    let shape = tensor.dims().to_vec();
    let data = tensor.into_data();
    let values = match data.as_slice::<f32>() {
        Ok(values) => values.to_vec(),
        Err(_) => data.iter::<f32>().collect(),
    };
    WeightTensor {
        shape,
        values,
        kind,
    }
}

/// The export names of the tensors the optimizer trains (those requiring a gradient on an
/// autodiff device).
fn trainable_names<M: Module>(model: &M) -> BTreeSet<String> {
    struct Names(BTreeSet<String>);
    impl NamedVisit for Names {
        fn tensor<const D: usize>(&mut self, name: String, _: bool, param: &Param<Tensor<D>>) {
            if param.val().is_require_grad() {
                self.0.insert(name);
            }
        }
    }
    visit_named(model, Names(BTreeSet::new())).0
}

/// Replaces each float tensor by the one of the same name.
struct Writer<'a> {
    at: NamePath,
    weights: &'a Weights,
    seen: usize,
    error: Option<anyhow::Error>,
    /// Tensors the weights lack keep their values (instead of being an error).
    partial: bool,
}

impl ModuleMapper for Writer<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.at.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, container_type: &str) {
        self.at.exit(container_type);
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if self.error.is_some() {
            return param;
        }
        let (name, transposed) = self.at.name(D);
        let model_dims: [usize; D] = param.lazy_shape().dims();
        let Some(tensor) = self.weights.tensors.get(&name) else {
            if self.partial {
                return param;
            }
            self.error = Some(anyhow::anyhow!(
                "the weights have no tensor `{name}` (the model's tensor of shape {model_dims:?})"
            ));
            return param;
        };
        let mut stored: Vec<usize> = model_dims.to_vec();
        if transposed {
            stored.swap(0, 1);
        }
        if tensor.shape != stored {
            self.error = Some(anyhow::anyhow!(
                "tensor `{name}`: the weights have shape {:?}, the model {:?}",
                tensor.shape,
                stored
            ));
            return param;
        }
        self.seen += 1;
        // Transposed on the host, so the model gets a contiguous tensor exactly as a loaded
        // checkpoint gives it (a transposed view makes flex's matmuls sum in another order,
        // and a resumed run would drift from the uninterrupted one in the last bits).
        let values = match transposed {
            true => transpose(&tensor.values, tensor.shape[0], tensor.shape[1]),
            false => tensor.values.clone(),
        };
        param.map(|old| {
            let device = old.device();
            let data = TensorData::new(values, model_dims);
            let new = Tensor::<D>::from_data(data, &device);
            new.set_require_grad(old.is_require_grad())
        })
    }
}

/// The row-major `rows x cols` matrix `values` transposed (export layout to a linear
/// layer's and back).
pub(crate) fn transpose<T: Copy + Default>(values: &[T], rows: usize, cols: usize) -> Vec<T> {
    let mut out = vec![T::default(); values.len()];
    for (r, row) in values.chunks(cols.max(1)).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            out[c * rows + r] = v;
        }
    }
    out
}

impl Weights {
    /// The weights of `model`: every float tensor under its export name. On an autodiff
    /// device, tensors that require a gradient are parameters and the rest buffers; batch-norm
    /// running statistics are read up to date.
    pub fn of<M: Module>(model: &M) -> Weights {
        let trainable = trainable_names(model);
        let reader = Reader {
            tensors: BTreeMap::new(),
            trainable: &trainable,
            buffers_only: false,
        };
        // `valid()` folds a pending running-statistics update into the value it reads.
        Weights {
            tensors: visit_named(&model.valid(), reader).tensors,
        }
    }

    /// The buffers of `model` alone (batch-norm running statistics): what a forward pass in
    /// training mode changes besides the parameters.
    pub(crate) fn buffers_of<M: Module>(model: &M) -> Weights {
        let trainable = trainable_names(model);
        let reader = Reader {
            tensors: BTreeMap::new(),
            trainable: &trainable,
            buffers_only: true,
        };
        Weights {
            tensors: visit_named(&model.valid(), reader).tensors,
        }
    }

    /// `model` with the tensors of `self` (a subset of its tensors, such as
    /// [`Weights::buffers_of`]) put back and any pending running-statistics update dropped.
    pub(crate) fn restore_into<M: Module>(&self, model: M) -> anyhow::Result<M> {
        // A running statistic keeps the last forward pass's update pending beside its value;
        // `valid()` folds it in, so that the value written next is the one that stays.
        let _ = model.valid();
        let mut writer = Writer {
            at: NamePath::default(),
            weights: self,
            seen: 0,
            error: None,
            partial: true,
        };
        let model = model.map(&mut writer);
        match writer.error {
            Some(error) => Err(error),
            None => Ok(model),
        }
    }

    /// `model` with every float tensor replaced by the one of the same name. Every tensor of
    /// the model must be present with its shape, and no other: a mismatch is an error naming
    /// the tensor.
    pub fn load_into<M: Module>(&self, model: M) -> anyhow::Result<M> {
        let mut writer = Writer {
            at: NamePath::default(),
            weights: self,
            seen: 0,
            error: None,
            partial: false,
        };
        let model = model.map(&mut writer);
        if let Some(error) = writer.error {
            return Err(error);
        }
        if writer.seen != self.tensors.len() {
            let known = trainable_or_not_names(&model);
            let extra: Vec<&String> = self
                .tensors
                .keys()
                .filter(|n| !known.contains(*n))
                .take(3)
                .collect();
            anyhow::bail!("the weights have tensors the model lacks: {extra:?}");
        }
        Ok(model)
    }

    /// Builds weights from named tensors (checked: values match the shape).
    pub fn from_tensors(
        tensors: impl IntoIterator<Item = (String, WeightTensor)>,
    ) -> anyhow::Result<Weights> {
        let mut out = BTreeMap::new();
        for (name, tensor) in tensors {
            let expected: usize = tensor.shape.iter().product();
            if tensor.values.len() != expected {
                anyhow::bail!(
                    "tensor `{name}`: {} values for shape {:?} ({expected} expected)",
                    tensor.values.len(),
                    tensor.shape
                );
            }
            if out.insert(name.clone(), tensor).is_some() {
                anyhow::bail!("tensor `{name}` is given twice");
            }
        }
        Ok(Weights { tensors: out })
    }

    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&WeightTensor> {
        self.tensors.get(name)
    }

    /// Mutable access to the tensor called `name` (its shape must stay).
    pub fn values_mut(&mut self, name: &str) -> Option<&mut [f32]> {
        self.tensors.get_mut(name).map(|t| t.values.as_mut_slice())
    }

    /// The tensors in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &WeightTensor)> {
        self.tensors.iter().map(|(n, t)| (n.as_str(), t))
    }

    /// The tensor names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Only the tensors of `kind`.
    pub fn only(&self, kind: TensorKind) -> Weights {
        Weights {
            tensors: self
                .tensors
                .iter()
                .filter(|(_, t)| t.kind == kind)
                .map(|(n, t)| (n.clone(), t.clone()))
                .collect(),
        }
    }

    /// The number of floats over all tensors.
    pub fn num_values(&self) -> usize {
        self.tensors.values().map(|t| t.values.len()).sum()
    }

    /// Checks that `other` has exactly these names and shapes.
    fn check_same_layout(&self, other: &Weights, what: &str) -> anyhow::Result<()> {
        for (name, tensor) in &self.tensors {
            match other.tensors.get(name) {
                None => anyhow::bail!("{what}: tensor `{name}` is missing from the other weights"),
                Some(o) if o.shape != tensor.shape => anyhow::bail!(
                    "{what}: tensor `{name}` has shape {:?} and {:?}",
                    tensor.shape,
                    o.shape
                ),
                Some(_) => {}
            }
        }
        if let Some(extra) = other
            .tensors
            .keys()
            .find(|n| !self.tensors.contains_key(*n))
        {
            anyhow::bail!("{what}: tensor `{extra}` is missing from the first weights");
        }
        Ok(())
    }

    /// Element by element `f(self, other)` over two weights of the same layout.
    fn zip_with(
        &self,
        other: &Weights,
        what: &str,
        f: impl Fn(f32, f32) -> f32,
    ) -> anyhow::Result<Weights> {
        self.check_same_layout(other, what)?;
        let tensors = self
            .tensors
            .iter()
            .map(|(name, t)| {
                let o = &other.tensors[name];
                let values = t.values.iter().zip(&o.values).map(|(a, b)| f(*a, *b));
                let tensor = WeightTensor {
                    shape: t.shape.clone(),
                    values: values.collect(),
                    kind: t.kind,
                };
                (name.clone(), tensor)
            })
            .collect();
        Ok(Weights { tensors })
    }

    /// `self + other`.
    pub fn add(&self, other: &Weights) -> anyhow::Result<Weights> {
        self.zip_with(other, "adding weights", |a, b| a + b)
    }

    /// `self - other` (a weight delta).
    pub fn sub(&self, other: &Weights) -> anyhow::Result<Weights> {
        self.zip_with(other, "subtracting weights", |a, b| a - b)
    }

    /// `factor * self`.
    pub fn scale(&self, factor: f32) -> Weights {
        let mut out = self.clone();
        for tensor in out.tensors.values_mut() {
            tensor.values.iter_mut().for_each(|v| *v *= factor);
        }
        out
    }

    /// `sum_i w_i x_i / sum_i w_i`, accumulated in f64 (so the average of equal weights is
    /// exact to f32 rounding whatever the order). Weights must be finite, non-negative and not
    /// all zero.
    pub fn weighted_average(items: &[(&Weights, f64)]) -> anyhow::Result<Weights> {
        let Some((first, _)) = items.first() else {
            anyhow::bail!("averaging weights: no weights given");
        };
        let total: f64 = items.iter().map(|(_, w)| w).sum();
        if items.iter().any(|(_, w)| !w.is_finite() || *w < 0.0) || total <= 0.0 {
            anyhow::bail!(
                "averaging weights: the coefficients must be finite, non-negative and not all zero"
            );
        }
        for (other, _) in &items[1..] {
            first.check_same_layout(other, "averaging weights")?;
        }
        let tensors = first
            .tensors
            .iter()
            .map(|(name, t)| {
                let mut sum = vec![0f64; t.values.len()];
                for (weights, w) in items {
                    let values = &weights.tensors[name].values;
                    for (s, v) in sum.iter_mut().zip(values) {
                        *s += w * f64::from(*v);
                    }
                }
                let tensor = WeightTensor {
                    shape: t.shape.clone(),
                    values: sum.iter().map(|s| (s / total) as f32).collect(),
                    kind: t.kind,
                };
                (name.clone(), tensor)
            })
            .collect();
        Ok(Weights { tensors })
    }

    /// The plain mean of several weights.
    pub fn mean(items: &[&Weights]) -> anyhow::Result<Weights> {
        let weighted: Vec<(&Weights, f64)> = items.iter().map(|w| (*w, 1.0)).collect();
        Self::weighted_average(&weighted)
    }

    /// `sum f(self_i, other_i)` over every value pair, in f64.
    fn pair_sum(
        &self,
        other: &Weights,
        what: &str,
        f: impl Fn(f64, f64) -> f64,
    ) -> anyhow::Result<f64> {
        self.check_same_layout(other, what)?;
        Ok(self
            .tensors
            .iter()
            .flat_map(|(name, t)| t.values.iter().zip(&other.tensors[name].values))
            .map(|(a, b)| f(f64::from(*a), f64::from(*b)))
            .sum())
    }

    /// `sum self * other` over every value (f64 accumulation).
    pub fn dot(&self, other: &Weights) -> anyhow::Result<f64> {
        self.pair_sum(other, "the dot product of weights", |a, b| a * b)
    }

    /// The L2 norm over every value.
    pub fn l2_norm(&self) -> f64 {
        self.tensors
            .values()
            .flat_map(|t| &t.values)
            .map(|v| f64::from(*v) * f64::from(*v))
            .sum::<f64>()
            .sqrt()
    }

    /// `||self - other||_2` over every value.
    pub fn l2_distance(&self, other: &Weights) -> anyhow::Result<f64> {
        let squares = self.pair_sum(other, "the distance between weights", |a, b| {
            (a - b).powi(2)
        })?;
        Ok(squares.sqrt())
    }

    /// Whether every value is finite.
    pub fn all_finite(&self) -> bool {
        self.tensors
            .values()
            .all(|t| t.values.iter().all(|v| v.is_finite()))
    }

    /// Writes the tensors as a safetensors file (what `stoke export` writes), atomically.
    pub fn write_safetensors(&self, out: &Path) -> anyhow::Result<()> {
        write_atomic(out, &self.to_safetensors_bytes()?)
    }

    /// [`Weights::write_safetensors`] with `metadata` added to the file's header (beside
    /// `format = pt`).
    pub fn write_safetensors_with(
        &self,
        out: &Path,
        metadata: BTreeMap<String, String>,
    ) -> anyhow::Result<()> {
        write_atomic(out, &self.safetensors_bytes(metadata)?)
    }

    /// The bytes of a safetensors file of these tensors (f32).
    pub fn to_safetensors_bytes(&self) -> anyhow::Result<Vec<u8>> {
        self.safetensors_bytes(BTreeMap::new())
    }

    fn safetensors_bytes(&self, extra: BTreeMap<String, String>) -> anyhow::Result<Vec<u8>> {
        let bytes: Vec<(&String, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(name, t)| {
                (
                    name,
                    t.values.iter().flat_map(|v| v.to_le_bytes()).collect(),
                )
            })
            .collect();
        let views = bytes
            .iter()
            .map(|(name, data)| {
                let shape = self.tensors[*name].shape.clone();
                Ok(((*name).clone(), TensorView::new(Dtype::F32, shape, data)?))
            })
            .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
        let mut metadata: std::collections::HashMap<String, String> = extra.into_iter().collect();
        metadata.insert("format".to_string(), "pt".to_string());
        safetensors::serialize(views, Some(metadata)).context("encoding safetensors")
    }

    /// Reads a safetensors file of f32 tensors; every tensor is tagged a parameter (the file
    /// does not say; [`Weights::with_kinds_of`] takes the tags of a model's weights).
    pub fn read_safetensors(path: &Path) -> anyhow::Result<Weights> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Self::from_safetensors_bytes(&bytes, path)
    }

    /// [`Weights::read_safetensors`] of bytes already read from `path` (named in errors).
    pub fn from_safetensors_bytes(bytes: &[u8], path: &Path) -> anyhow::Result<Weights> {
        let file = safetensors::SafeTensors::deserialize(bytes)
            .with_context(|| format!("{}: not a safetensors file", path.display()))?;
        let mut tensors = Vec::new();
        for (name, view) in file.tensors() {
            // PyTorch's batch-norm step counters (int64) are no state of stoke's batch norms.
            if name.ends_with("num_batches_tracked") && view.dtype() != Dtype::F32 {
                continue;
            }
            if view.dtype() != Dtype::F32 {
                anyhow::bail!(
                    "{}: tensor `{name}` is {:?}, expected F32",
                    path.display(),
                    view.dtype()
                );
            }
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let tensor = WeightTensor {
                shape: view.shape().to_vec(),
                values,
                kind: TensorKind::Parameter,
            };
            tensors.push((name, tensor));
        }
        Self::from_tensors(tensors).with_context(|| format!("reading {}", path.display()))
    }

    /// These weights with each tensor's kind taken from `reference` (by name).
    pub fn with_kinds_of(mut self, reference: &Weights) -> Weights {
        for (name, tensor) in self.tensors.iter_mut() {
            if let Some(r) = reference.tensors.get(name) {
                tensor.kind = r.kind;
            }
        }
        self
    }
}

/// Every float tensor name of `model`.
fn trainable_or_not_names<M: Module>(model: &M) -> BTreeSet<String> {
    let none = BTreeSet::new();
    let reader = Reader {
        tensors: BTreeMap::new(),
        trainable: &none,
        buffers_only: false,
    };
    visit_named(model, reader).tensors.into_keys().collect()
}

/// The gradients in `grads` of `model`'s trainable tensors, by export name, in export layout.
pub(crate) fn gradient_values<M: Module>(
    model: &M,
    grads: &GradientsParams,
) -> Vec<(String, Vec<f32>)> {
    struct Read<'a> {
        grads: &'a GradientsParams,
        out: Vec<(String, Vec<f32>)>,
    }
    impl NamedVisit for Read<'_> {
        fn tensor<const D: usize>(
            &mut self,
            name: String,
            transposed: bool,
            param: &Param<Tensor<D>>,
        ) {
            if let Some(grad) = self.grads.get::<D>(param.id) {
                let tensor = host_tensor(grad, transposed, TensorKind::Parameter);
                self.out.push((name, tensor.values));
            }
        }
    }
    let read = Read {
        grads,
        out: Vec::new(),
    };
    visit_named(model, read).out
}

/// Gradients named and laid out as [`Weights`] are, as Burn's gradients of `model`'s
/// trainable tensors. A name that is not a trainable tensor of the model, or a wrong shape,
/// is an error naming the tensor; trainable tensors without a gradient get none.
pub(crate) fn gradients_params<M: Module>(
    model: &M,
    gradients: &Weights,
) -> anyhow::Result<GradientsParams> {
    struct Write<'a> {
        gradients: &'a Weights,
        out: GradientsParams,
        used: usize,
        error: Option<anyhow::Error>,
    }
    impl NamedVisit for Write<'_> {
        fn tensor<const D: usize>(
            &mut self,
            name: String,
            transposed: bool,
            param: &Param<Tensor<D>>,
        ) {
            if self.error.is_some() || !param.val().is_require_grad() {
                return;
            }
            let Some(tensor) = self.gradients.get(&name) else {
                return;
            };
            let mut dims: [usize; D] = param.lazy_shape().dims();
            if transposed {
                dims.swap(0, 1);
            }
            if tensor.shape != dims {
                self.error = Some(anyhow::anyhow!(
                    "gradient `{name}`: shape {:?}, the parameter's is {dims:?}",
                    tensor.shape
                ));
                return;
            }
            self.used += 1;
            let device = param.val().device().without_autodiff();
            let data = TensorData::new(tensor.values.clone(), dims);
            let mut grad = Tensor::<D>::from_data(data, &device);
            if transposed {
                grad = grad.transpose();
            }
            self.out.register(param.id, grad);
        }
    }
    let write = visit_named(
        model,
        Write {
            gradients,
            out: GradientsParams::new(),
            used: 0,
            error: None,
        },
    );
    if let Some(error) = write.error {
        return Err(error);
    }
    if write.used != gradients.len() {
        let trainable = trainable_names(model);
        let unknown: Vec<&str> = gradients
            .names()
            .filter(|n| !trainable.contains(*n))
            .take(3)
            .collect();
        anyhow::bail!(
            "gradients for tensors that are not trainable parameters of the model: {unknown:?}"
        );
    }
    Ok(write.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(pairs: &[(&str, &[f32])]) -> Weights {
        Weights::from_tensors(pairs.iter().map(|(n, v)| {
            let tensor = WeightTensor {
                shape: vec![v.len()],
                values: v.to_vec(),
                kind: TensorKind::Parameter,
            };
            (n.to_string(), tensor)
        }))
        .unwrap()
    }

    #[test]
    fn arithmetic_matches_hand_computed_values() {
        let a = weights(&[("x", &[1.0, 2.0]), ("y", &[3.0])]);
        let b = weights(&[("x", &[3.0, -2.0]), ("y", &[1.0])]);
        assert_eq!(
            a.add(&b).unwrap(),
            weights(&[("x", &[4.0, 0.0]), ("y", &[4.0])])
        );
        assert_eq!(
            a.sub(&b).unwrap(),
            weights(&[("x", &[-2.0, 4.0]), ("y", &[2.0])])
        );
        assert_eq!(a.scale(0.5), weights(&[("x", &[0.5, 1.0]), ("y", &[1.5])]));
        // 1*3 + 2*(-2) + 3*1 = 2
        assert_eq!(a.dot(&b).unwrap(), 2.0);
        // sqrt(4 + 16 + 4)
        assert_eq!(a.l2_distance(&b).unwrap(), 24f64.sqrt());
        assert_eq!(a.l2_norm(), 14f64.sqrt());
        // (1*a + 3*b) / 4
        let avg = Weights::weighted_average(&[(&a, 1.0), (&b, 3.0)]).unwrap();
        assert_eq!(avg, weights(&[("x", &[2.5, -1.0]), ("y", &[1.5])]));
        assert_eq!(
            Weights::mean(&[&a, &b]).unwrap(),
            weights(&[("x", &[2.0, 0.0]), ("y", &[2.0])])
        );
    }

    #[test]
    fn mismatched_layouts_are_errors_naming_the_tensor() {
        let a = weights(&[("x", &[1.0, 2.0])]);
        let b = weights(&[("x", &[1.0])]);
        let c = weights(&[("z", &[1.0, 2.0])]);
        assert!(a.add(&b).unwrap_err().to_string().contains("`x`"));
        assert!(a.dot(&c).unwrap_err().to_string().contains("`x`"));
        assert!(Weights::weighted_average(&[(&a, 0.0)]).is_err());
        assert!(Weights::weighted_average(&[]).is_err());
        let bad = WeightTensor {
            shape: vec![3],
            values: vec![1.0],
            kind: TensorKind::Buffer,
        };
        let err = Weights::from_tensors([("w".to_string(), bad)]).unwrap_err();
        assert!(err.to_string().contains("`w`"), "{err}");
    }

    #[test]
    fn safetensors_round_trip_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let a = weights(&[("x", &[1.0, f32::MIN_POSITIVE, -0.0]), ("y", &[3.5])]);
        a.write_safetensors(&path).unwrap();
        assert_eq!(Weights::read_safetensors(&path).unwrap(), a);
    }
}
