//! Reading model inputs from `.npy` files (float32 or int64).

use crate::error::{Error, Result};
use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;
use std::path::Path;

/// A tensor read from a `.npy` file.
#[derive(Debug, Clone)]
pub enum Tensor {
    /// float32 data.
    F32(ArrayD<f32>),
    /// int64 data.
    I64(ArrayD<i64>),
}

impl Tensor {
    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            Tensor::F32(a) => a.shape(),
            Tensor::I64(a) => a.shape(),
        }
    }

    /// The element type name.
    pub fn dtype(&self) -> &'static str {
        match self {
            Tensor::F32(_) => "float32",
            Tensor::I64(_) => "int64",
        }
    }

    /// Elements as f64 in row-major order.
    pub fn values(&self) -> Vec<f64> {
        match self {
            Tensor::F32(a) => a.iter().map(|&x| x as f64).collect(),
            Tensor::I64(a) => a.iter().map(|&x| x as f64).collect(),
        }
    }
}

/// Reads a float32 or int64 `.npy` file.
pub fn read(path: &Path) -> Result<Tensor> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if let Ok(a) = ArrayD::<f32>::read_npy(&bytes[..]) {
        return Ok(Tensor::F32(a));
    }
    if let Ok(a) = ArrayD::<i64>::read_npy(&bytes[..]) {
        return Ok(Tensor::I64(a));
    }
    let header = String::from_utf8_lossy(&bytes[..bytes.len().min(128)]).into_owned();
    let descr = header
        .split("'descr':")
        .nth(1)
        .and_then(|s| s.split('\'').nth(1))
        .map(|d| format!("element type `{d}`"))
        .unwrap_or_else(|| "no readable .npy header".into());
    Err(Error::BadInput(format!(
        "`{}` has {descr}; inputs must be float32 or int64 .npy files (numpy: `np.save(path, x.astype(np.float32))`)",
        path.display()
    )))
}
