//! Small batch-level operations the generated code calls between layers: an
//! activation over a whole batch (with its backward, overwriting or accumulating),
//! and the sum at the end of a residual block.

use crate::activation::Activation;
use crate::batch::Batch;
use crate::dense::Write;
use crate::real::Real;

/// `y = act(x)`, resizing `y` to `x.rows()`.
#[inline]
pub fn act_forward<T: Real, A: Activation<T>, const D: usize>(
    act: A,
    x: &Batch<T, D>,
    y: &mut Batch<T, D>,
) {
    y.set_rows(x.rows());
    act.forward(x.as_slice(), y.as_mut_slice());
}

/// `dx (=|+=) dy * act'(x)`, with `y = act(x)` from the forward pass.
///
/// # Panics
/// If `x`, `y` and `dy` differ in rows, or an accumulated `dx` does.
#[inline]
pub fn act_backward<T: Real, A: Activation<T>, const D: usize>(
    act: A,
    x: &Batch<T, D>,
    y: &Batch<T, D>,
    dy: &Batch<T, D>,
    dx: &mut Batch<T, D>,
    write: Write,
) {
    assert!(
        x.rows() == y.rows() && y.rows() == dy.rows(),
        "act_backward: rows differ"
    );
    match write {
        Write::Overwrite => {
            dx.set_rows(x.rows());
            act.backward(x.as_slice(), y.as_slice(), dy.as_slice(), dx.as_mut_slice());
        }
        Write::Accumulate => {
            assert_eq!(dx.rows(), x.rows(), "act_backward: dx has wrong rows");
            let (x, y, dy) = (x.as_slice(), y.as_slice(), dy.as_slice());
            for (i, d) in dx.as_mut_slice().iter_mut().enumerate() {
                *d += dy[i] * act.df(x[i], y[i]);
            }
        }
    }
}

/// `y = a + b`, resizing `y`.
///
/// # Panics
/// If `a` and `b` differ in rows.
#[inline]
pub fn add<T: Real, const D: usize>(a: &Batch<T, D>, b: &Batch<T, D>, y: &mut Batch<T, D>) {
    assert_eq!(a.rows(), b.rows(), "add: rows differ");
    y.set_rows(a.rows());
    for ((y, &a), &b) in y
        .as_mut_slice()
        .iter_mut()
        .zip(a.as_slice())
        .zip(b.as_slice())
    {
        *y = a + b;
    }
}

/// `y += a`.
///
/// # Panics
/// If `a` and `y` differ in rows.
#[inline]
pub fn add_assign<T: Real, const D: usize>(y: &mut Batch<T, D>, a: &Batch<T, D>) {
    assert_eq!(a.rows(), y.rows(), "add_assign: rows differ");
    for (y, &a) in y.as_mut_slice().iter_mut().zip(a.as_slice()) {
        *y += a;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::Tanh;
    use crate::gradcheck::check_gradient;

    /// act_backward in both modes against finite differences of
    /// L = sum c_i sin(tanh(x_i)).
    #[test]
    fn act_backward_matches_finite_differences() {
        let xs = [0.3, -1.2, 2.5, 0.01, -0.7, 1.9];
        let c = [1.0, -2.0, 0.5, 3.0, 1.5, -0.25];
        let loss = |x: &[f64]| -> f64 { x.iter().zip(&c).map(|(x, c)| c * x.tanh().sin()).sum() };
        let x = Batch::<f64, 3>::from_slice(&xs).unwrap();
        let mut y = Batch::new();
        act_forward(Tanh, &x, &mut y);
        let dy = Batch::<f64, 3>::from_vec(
            y.as_slice()
                .iter()
                .zip(&c)
                .map(|(y, c)| c * y.cos())
                .collect(),
        )
        .unwrap();
        let mut dx = Batch::zeros(7);
        act_backward(Tanh, &x, &y, &dy, &mut dx, Write::Overwrite);
        check_gradient(loss, &xs, dx.as_slice()).unwrap();
        // Accumulating the same gradient again doubles it.
        act_backward(Tanh, &x, &y, &dy, &mut dx, Write::Accumulate);
        let half: Vec<f64> = dx.as_slice().iter().map(|v| v * 0.5).collect();
        check_gradient(loss, &xs, &half).unwrap();
    }

    #[test]
    fn add_and_add_assign() {
        let a = Batch::<f64, 2>::from_rows(&[[1.0, 2.0], [3.0, 4.0]]).unwrap();
        let b = Batch::<f64, 2>::from_rows(&[[0.5, 0.5], [1.0, -1.0]]).unwrap();
        let mut y = Batch::new();
        add(&a, &b, &mut y);
        assert_eq!(y.as_slice(), &[1.5, 2.5, 4.0, 3.0]);
        add_assign(&mut y, &a);
        assert_eq!(y.as_slice(), &[2.5, 4.5, 7.0, 7.0]);
    }
}
