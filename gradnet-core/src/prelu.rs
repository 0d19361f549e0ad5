//! PReLU, the activation with a learned slope: `torch.nn.PReLU(num_parameters, init)`.
//!
//! ```text
//! forward   y  = x            if x > 0
//!              = a x          otherwise
//! backward  dx = dy           if x > 0
//!              = a dy         otherwise          (so dx at x = 0 is a dy, as PyTorch)
//!           da = sum of x dy over the x <= 0 it applies to
//! ```
//!
//! The slope `a` is one value shared by every feature ([`PRelu::shared`],
//! `num_parameters=1`, PyTorch's default) or one per feature ([`PRelu::per_feature`],
//! `num_parameters=D`, feature `j` being column `j` as PyTorch's channel dimension 1).
//! PyTorch starts it at 0.25 ([`PRelu::DEFAULT_INIT`]); its parameter is named
//! `weight`, as here.
//!
//! ```
//! use gradnet_core::{Batch, Write, prelu::{PRelu, PReluGrads}};
//! let layer = PRelu::<f64, 2>::from_weight(vec![0.25, 0.5])?;
//! let x = Batch::<f64, 2>::from_rows(&[[-4.0, -4.0], [3.0, 2.0]])?;
//! let mut y = Batch::new();
//! layer.forward(&x, &mut y);
//! assert_eq!(y.as_slice(), &[-1.0, -2.0, 3.0, 2.0]);
//! let dy = Batch::<f64, 2>::from_rows(&[[1.0, 2.0], [1.0, 1.0]])?;
//! let (mut g, mut dx) = (layer.zero_grads(), Batch::new());
//! layer.backward(&x, &dy, &mut g, Write::Overwrite, Some(&mut dx), Write::Overwrite);
//! assert_eq!(g.weight(), &[-4.0, -8.0]);            // x dy where x <= 0
//! assert_eq!(dx.as_slice(), &[0.25, 1.0, 1.0, 1.0]); // a dy where x <= 0, else dy
//! # Ok::<(), gradnet_core::Error>(())
//! ```

use crate::batch::Batch;
use crate::dense::Write;
use crate::error::{Error, Result};
use crate::layer::Layer;
use crate::params::{Gradients, ParamMut, Parameters, Shape, TensorKind};
use crate::real::Real;
use crate::rng::SeededRng;

/// `torch.nn.PReLU` over `D` features: `weight` holds 1 shared slope or `D` slopes.
#[derive(Clone, Debug, PartialEq)]
pub struct PRelu<T, const D: usize> {
    /// The slopes for `x <= 0`: length 1 (shared) or `D` (one per feature).
    weight: Vec<T>,
}

/// Read and write access to the values; the fields are private so that no value of
/// the wrong length can be put in.
impl<T: Real, const D: usize> PRelu<T, D> {
    /// The slopes for `x <= 0`: 1 shared or `D`, one per feature.
    pub fn weight(&self) -> &[T] {
        &self.weight
    }

    /// The slopes for `x <= 0`: 1 shared or `D`, one per feature, mutable (its length is fixed).
    pub fn weight_mut(&mut self) -> &mut [T] {
        &mut self.weight
    }
}

/// The gradient of a [`PRelu`], the same length as its weight.
#[derive(Clone, Debug, PartialEq)]
pub struct PReluGrads<T, const D: usize> {
    /// dL/d(weight).
    weight: Vec<T>,
}

/// Read and write access to the values; the fields are private so that no value of
/// the wrong length can be put in.
impl<T: Real, const D: usize> PReluGrads<T, D> {
    /// dL/d(weight).
    pub fn weight(&self) -> &[T] {
        &self.weight
    }

    /// dL/d(weight), mutable (its length is fixed).
    pub fn weight_mut(&mut self) -> &mut [T] {
        &mut self.weight
    }
}

impl<T: Real, const D: usize> PReluGrads<T, D> {
    /// Zeroed gradients for a weight of `len` values.
    pub fn zeros(len: usize) -> Self {
        PReluGrads {
            weight: vec![T::zero(); len],
        }
    }
}

impl<T: Real, const D: usize> Default for PRelu<T, D> {
    /// One shared slope of 0.25, as `nn.PReLU()`.
    fn default() -> Self {
        Self::shared(Self::DEFAULT_INIT)
    }
}

impl<T: Real, const D: usize> PRelu<T, D> {
    /// PyTorch's initial slope.
    pub const DEFAULT_INIT: f64 = 0.25;

    /// One slope shared by all features, starting at `init` (`nn.PReLU(1, init)`).
    pub fn shared(init: f64) -> Self {
        PRelu {
            weight: vec![T::of(init)],
        }
    }

    /// One slope per feature, each starting at `init` (`nn.PReLU(D, init)`).
    pub fn per_feature(init: f64) -> Self {
        PRelu {
            weight: vec![T::of(init); D],
        }
    }

    /// A PReLU with the given slopes.
    ///
    /// # Errors
    /// [`Error::WidthMismatch`] (with `expected: D`) unless `weight` holds 1 or `D`
    /// values.
    pub fn from_weight(weight: Vec<T>) -> Result<Self> {
        if weight.len() != 1 && weight.len() != D {
            return Err(Error::WidthMismatch {
                what: "prelu weight (1 shared slope or one per feature)".into(),
                expected: D,
                found: weight.len(),
            });
        }
        Ok(PRelu { weight })
    }

    /// Whether one slope is shared by all features.
    pub fn is_shared(&self) -> bool {
        self.weight.len() == 1
    }

    /// Zeroed gradients of this layer's shape.
    pub fn zero_grads(&self) -> PReluGrads<T, D> {
        PReluGrads::zeros(self.weight.len())
    }

    /// The slope of feature `j`.
    #[inline(always)]
    fn slope(&self, j: usize) -> T {
        if self.is_shared() {
            self.weight[0]
        } else {
            self.weight[j]
        }
    }

    /// `y = prelu(x)`, resizing `y` to `x.rows()` (no allocation within its capacity).
    pub fn forward(&self, x: &Batch<T, D>, y: &mut Batch<T, D>) {
        self.check_weight();
        y.set_rows(x.rows());
        let zero = T::zero();
        if self.is_shared() {
            let a = self.weight[0];
            for (y, &x) in y.as_mut_slice().iter_mut().zip(x.as_slice()) {
                *y = if x > zero { x } else { a * x };
            }
        } else {
            for (yr, xr) in y
                .as_mut_slice()
                .chunks_exact_mut(D.max(1))
                .zip(x.iter_rows())
            {
                for ((y, &x), &a) in yr.iter_mut().zip(xr).zip(&self.weight) {
                    *y = if x > zero { x } else { a * x };
                }
            }
        }
    }

    /// `prelu(x)` in a new batch (allocating; for convenience).
    pub fn forward_alloc(&self, x: &Batch<T, D>) -> Batch<T, D> {
        let mut y = Batch::new();
        self.forward(x, &mut y);
        y
    }

    /// Backward pass given `dy = dL/dy` and the forward's input `x`: writes dL/dweight
    /// into `grads` (per `grad_write`) and, if asked, dL/dx into `dx` (per `dx_write`;
    /// an accumulated `dx` must already have `x.rows()` rows).
    ///
    /// # Panics
    /// If `dy` and `x` differ in rows, an accumulated `dx` has the wrong rows, or
    /// `grads` does not match this layer's weight (programmer errors, as in
    /// [`crate::Dense::backward`]).
    pub fn backward(
        &self,
        x: &Batch<T, D>,
        dy: &Batch<T, D>,
        grads: &mut PReluGrads<T, D>,
        grad_write: Write,
        dx: Option<&mut Batch<T, D>>,
        dx_write: Write,
    ) {
        self.check_weight();
        let rows = x.rows();
        assert_eq!(dy.rows(), rows, "prelu backward: dy and x differ in rows");
        assert_eq!(
            grads.weight.len(),
            self.weight.len(),
            "prelu backward: grads do not match the weight"
        );
        let zero = T::zero();

        // dweight: sum of x dy where x <= 0 (x = 0 adds nothing).
        if grad_write == Write::Overwrite {
            grads.weight.fill(zero);
        }
        if self.is_shared() {
            let mut s = zero;
            for (&x, &d) in x.as_slice().iter().zip(dy.as_slice()) {
                if x <= zero {
                    s += x * d;
                }
            }
            grads.weight[0] += s;
        } else {
            for (xr, dr) in x.iter_rows().zip(dy.iter_rows()) {
                for ((g, &x), &d) in grads.weight.iter_mut().zip(xr).zip(dr) {
                    if x <= zero {
                        *g += x * d;
                    }
                }
            }
        }

        // dx = dy where x > 0, a dy elsewhere.
        if let Some(dx) = dx {
            match dx_write {
                Write::Overwrite => dx.set_rows(rows),
                Write::Accumulate => {
                    assert_eq!(dx.rows(), rows, "prelu backward: dx has wrong rows")
                }
            }
            for ((gr, xr), dr) in dx
                .as_mut_slice()
                .chunks_exact_mut(D.max(1))
                .zip(x.iter_rows())
                .zip(dy.iter_rows())
            {
                for j in 0..D {
                    let v = if xr[j] > zero {
                        dr[j]
                    } else {
                        self.slope(j) * dr[j]
                    };
                    match dx_write {
                        Write::Overwrite => gr[j] = v,
                        Write::Accumulate => gr[j] += v,
                    }
                }
            }
        }
    }

    /// The weight's length is fixed by the constructors (the field is private); it is
    /// still checked once per pass, so a broken invariant fails loudly instead of
    /// reading a slope out of bounds.
    #[inline]
    fn check_weight(&self) {
        assert!(
            self.weight.len() == 1 || self.weight.len() == D,
            "prelu: weight has {} values, expected 1 or {D}",
            self.weight.len()
        );
    }
}

/// PReLU as a step of a network's passes: [`PRelu::forward`] in both modes (the
/// backward reads only the input, so there is no cache) and [`PRelu::backward`];
/// `dy` is left as it was.
impl<T: Real, const D: usize> Layer<T, Batch<T, D>> for PRelu<T, D> {
    type Output = Batch<T, D>;
    type Cache = ();
    type Grads = PReluGrads<T, D>;

    fn forward_eval(&self, x: &Batch<T, D>, y: &mut Batch<T, D>) {
        PRelu::forward(self, x, y);
    }

    fn forward_train(
        &self,
        x: &Batch<T, D>,
        y: &mut Batch<T, D>,
        _cache: &mut (),
        _rng: &mut SeededRng,
    ) -> Result<()> {
        PRelu::forward(self, x, y);
        Ok(())
    }

    fn backward(
        &self,
        x: &Batch<T, D>,
        _y: &Batch<T, D>,
        _cache: &mut (),
        dy: &mut Batch<T, D>,
        grads: &mut PReluGrads<T, D>,
        grad_write: Write,
        dx: Option<&mut Batch<T, D>>,
        dx_write: Write,
    ) {
        PRelu::backward(self, x, dy, grads, grad_write, dx, dx_write);
    }
}

impl<T: Real, const D: usize> Parameters<T> for PRelu<T, D> {
    type Grads = PReluGrads<T, D>;

    fn visit_params(&self, f: &mut impl FnMut(&'static str, &[T])) {
        f("weight", &self.weight);
    }

    fn visit_params_mut(&mut self, grads: &Self::Grads, f: &mut impl FnMut(ParamMut<'_, T>)) {
        f(ParamMut {
            name: "weight",
            value: &mut self.weight,
            grad: &grads.weight,
        });
    }

    fn zero_grads(&self) -> Self::Grads {
        PReluGrads::zeros(self.weight.len())
    }

    /// `weight` `[1]` (shared) or `[D]` (per feature), as `torch.nn.PReLU`.
    fn visit_shapes(&self, f: &mut impl FnMut(&'static str, TensorKind, Shape)) {
        f(
            "weight",
            TensorKind::Parameter,
            Shape::vector(self.weight.len()),
        );
    }

    fn visit_values_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [T])) {
        f("weight", &mut self.weight);
    }
}

impl<T: Real, const D: usize> Gradients<T> for PReluGrads<T, D> {
    fn visit_grads(&self, f: &mut impl FnMut(&'static str, &[T])) {
        f("weight", &self.weight);
    }

    fn visit_grads_mut(&mut self, f: &mut impl FnMut(&'static str, &mut [T])) {
        f("weight", &mut self.weight);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, compare, numeric_gradient};

    const ROWS: usize = 4;
    const D: usize = 3;

    /// Inputs at least 0.05 from the kink at 0, of both signs in every column.
    fn input() -> Vec<f64> {
        vec![
            -1.3, 0.7, -0.05, 2.1, -0.4, 0.9, -2.6, -1.1, 0.3, 0.45, 1.7, -0.8,
        ]
    }

    /// Varied weights of the nonlinear loss, so dy differs per element.
    fn coeffs() -> Vec<f64> {
        (0..ROWS * D).map(|i| 0.5 + 0.37 * i as f64).collect()
    }

    /// loss = sum_i c_i sin(y_i): nonlinear in y, so a backward that ignores dy fails.
    fn loss(layer: &PRelu<f64, D>, x: &[f64]) -> f64 {
        let y = layer.forward_alloc(&Batch::from_slice(x).unwrap());
        y.as_slice()
            .iter()
            .zip(coeffs())
            .map(|(y, c)| c * y.sin())
            .sum()
    }

    /// dloss/dy = c_i cos(y_i).
    fn loss_grad(layer: &PRelu<f64, D>, x: &Batch<f64, D>) -> Batch<f64, D> {
        let y = layer.forward_alloc(x);
        let d: Vec<f64> = y
            .as_slice()
            .iter()
            .zip(coeffs())
            .map(|(y, c)| c * y.cos())
            .collect();
        Batch::from_vec(d).unwrap()
    }

    fn layers() -> [PRelu<f64, D>; 2] {
        [
            PRelu::from_weight(vec![0.3]).unwrap(),
            PRelu::from_weight(vec![0.25, -0.1, 0.6]).unwrap(),
        ]
    }

    /// (numeric dx, numeric dweight) by central differences of `loss`.
    fn numeric(layer: &PRelu<f64, D>) -> (Vec<f64>, Vec<f64>) {
        let x = input();
        let ndx = numeric_gradient(|x| loss(layer, x), &x);
        let ndw = numeric_gradient(
            |w| loss(&PRelu::from_weight(w.to_vec()).unwrap(), &x),
            &layer.weight,
        );
        (ndx, ndw)
    }

    #[test]
    fn backward_matches_finite_differences() {
        for layer in layers() {
            let x = Batch::<f64, D>::from_slice(&input()).unwrap();
            let dy = loss_grad(&layer, &x);
            // Garbage in both outputs: overwrite must replace it, and resize dx.
            let mut g = PReluGrads {
                weight: vec![7.0; layer.weight.len()],
            };
            let mut dx = Batch::from_slice(&[5.0; 30]).unwrap();
            layer.backward(
                &x,
                &dy,
                &mut g,
                Write::Overwrite,
                Some(&mut dx),
                Write::Overwrite,
            );
            assert_eq!(dx.rows(), ROWS);
            let (ndx, ndw) = numeric(&layer);
            check_gradient(|x| loss(&layer, x), x.as_slice(), dx.as_slice()).unwrap();
            compare(&g.weight, &ndw).unwrap();
            compare(dx.as_slice(), &ndx).unwrap();
        }
    }

    #[test]
    fn accumulate_adds_to_what_is_there() {
        for layer in layers() {
            let x = Batch::<f64, D>::from_slice(&input()).unwrap();
            let dy = loss_grad(&layer, &x);
            let g0: Vec<f64> = (0..layer.weight.len()).map(|i| 1.5 - i as f64).collect();
            let dx0: Vec<f64> = (0..ROWS * D).map(|i| 0.1 * i as f64 - 0.4).collect();
            let mut g = PReluGrads { weight: g0.clone() };
            let mut dx = Batch::from_slice(&dx0).unwrap();
            layer.backward(
                &x,
                &dy,
                &mut g,
                Write::Accumulate,
                Some(&mut dx),
                Write::Accumulate,
            );
            let (ndx, ndw) = numeric(&layer);
            let plus =
                |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a + b).collect::<Vec<_>>();
            compare(&g.weight, &plus(&g0, &ndw)).unwrap();
            compare(dx.as_slice(), &plus(&dx0, &ndx)).unwrap();
            // Without dx, only the weight gradient is formed (accumulating again).
            layer.backward(&x, &dy, &mut g, Write::Accumulate, None, Write::Overwrite);
            compare(&g.weight, &plus(&plus(&g0, &ndw), &ndw)).unwrap();
        }
    }

    #[test]
    fn at_the_kink_pytorch_uses_the_slope() {
        // PyTorch: y = 0, dx = a dy, da gets x dy = 0 at x = 0.
        let layer = PRelu::<f64, 1>::shared(0.25);
        let x = Batch::from_slice(&[0.0]).unwrap();
        assert_eq!(layer.forward_alloc(&x).as_slice(), &[0.0]);
        let dy = Batch::from_slice(&[2.0]).unwrap();
        let (mut g, mut dx) = (layer.zero_grads(), Batch::new());
        layer.backward(
            &x,
            &dy,
            &mut g,
            Write::Overwrite,
            Some(&mut dx),
            Write::Overwrite,
        );
        assert_eq!(dx.as_slice(), &[0.5]);
        assert_eq!(g.weight, vec![0.0]);
    }

    #[test]
    fn forward_reuses_the_output_buffer() {
        let layer = PRelu::<f32, D>::per_feature(0.25);
        let x = Batch::<f32, D>::from_rows(&[[-1.0, 2.0, -3.0]]).unwrap();
        let mut y = Batch::zeros(16);
        let ptr = y.as_slice().as_ptr();
        layer.forward(&x, &mut y);
        assert_eq!(y.as_slice(), &[-0.25, 2.0, -0.75]);
        assert_eq!(y.as_slice().as_ptr(), ptr);
    }

    #[test]
    fn constructors_and_wrong_weight_length() {
        assert_eq!(PRelu::<f64, D>::default().weight, vec![0.25]);
        assert_eq!(PRelu::<f64, D>::per_feature(0.1).weight, vec![0.1; D]);
        assert!(PRelu::<f64, D>::default().is_shared());
        for bad in [0, 2, 4] {
            assert_eq!(
                PRelu::<f64, D>::from_weight(vec![0.1; bad]),
                Err(Error::WidthMismatch {
                    what: "prelu weight (1 shared slope or one per feature)".into(),
                    expected: D,
                    found: bad,
                })
            );
        }
    }

    #[test]
    fn parameters_are_visited_as_weight() {
        let mut layer = PRelu::<f64, D>::per_feature(0.25);
        assert_eq!(layer.num_params(), D);
        assert_eq!(PRelu::<f64, D>::default().num_params(), 1);
        let mut names = Vec::new();
        layer.visit_params(&mut |n, v| names.push((n, v.len())));
        assert_eq!(names, vec![("weight", D)]);
        let mut g = Parameters::zero_grads(&layer);
        g.visit_grads_mut(&mut |_, g| g.copy_from_slice(&[1.0, 2.0, 3.0]));
        // One SGD step through the visitor, lr 0.5 (exact in binary).
        layer.visit_params_mut(&g, &mut |p| {
            assert_eq!(p.name, "weight");
            for (v, g) in p.value.iter_mut().zip(p.grad) {
                *v -= 0.5 * g;
            }
        });
        assert_eq!(layer.weight, vec![-0.25, -0.75, -1.25]);
        g.zero();
        let mut seen = Vec::new();
        g.visit_grads(&mut |n, v| seen.push((n, v.to_vec())));
        assert_eq!(seen, vec![("weight", vec![0.0; D])]);
    }
}
