//! Choosing the number of fractional bits from sample inputs.
//!
//! Each candidate format is compiled and run on the samples; the one whose
//! outputs are closest to the float model (tract) wins. Too few bits lose
//! precision, too many saturate: the error curve has one clear minimum.

use crate::compiler::graph::Graph;
use crate::compiler::reference::FloatModel;
use crate::error::Result;
use crate::fixed::FixedFormat;
use crate::npy::Tensor;
use crate::runtime::Runtime;

/// Candidate fractional bits, tried in this order.
pub const CANDIDATES: &[u32] = &[8, 10, 12, 14, 16, 18, 20, 22];

/// Splits a batch of samples (axis 0) into single inputs shaped like the model input.
pub fn samples_of(samples: &Tensor, shape: &[usize]) -> Vec<Tensor> {
    let per: usize = shape.iter().product();
    let vals = samples.values();
    vals.chunks_exact(per.max(1))
        .map(|c| match samples {
            Tensor::F32(_) => Tensor::F32(
                ndarray::ArrayD::from_shape_vec(
                    shape.to_vec(),
                    c.iter().map(|&x| x as f32).collect(),
                )
                .unwrap(),
            ),
            Tensor::I64(_) => Tensor::I64(
                ndarray::ArrayD::from_shape_vec(
                    shape.to_vec(),
                    c.iter().map(|&x| x as i64).collect(),
                )
                .unwrap(),
            ),
        })
        .collect()
}

/// Picks the fractional bits with the smallest max relative output error on the samples.
pub fn choose_frac_bits(g: &Graph, onnx: &[u8], name: &str, samples: &Tensor) -> Result<u32> {
    let input_shape = g.values[g.inputs[0]].shape.clone();
    let dtypes: Vec<_> = g
        .inputs
        .iter()
        .map(|&v| (g.values[v].shape.clone(), g.values[v].dtype))
        .collect();
    let float = FloatModel::new(onnx, &dtypes)?;
    let inputs = samples_of(samples, &input_shape);
    let refs: Vec<Vec<Vec<f64>>> = inputs
        .iter()
        .map(|x| float.run(std::slice::from_ref(x)))
        .collect::<Result<_>>()?;
    let mut best = (f64::INFINITY, crate::fixed::DEFAULT_FRAC_BITS);
    for &f in CANDIDATES {
        let artifact = crate::compiler::build::build(g, onnx, name, FixedFormat::new(f))?;
        let rt = Runtime::new(artifact, false)?;
        let mut err: f64 = 0.0;
        for (x, r) in inputs.iter().zip(&refs) {
            let out = rt.run(std::slice::from_ref(x))?;
            for (o, rv) in out.outputs.iter().zip(r) {
                let scale = rv.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
                for (a, b) in o.values.iter().zip(rv) {
                    err = err.max((a - b).abs() / scale);
                }
            }
        }
        if err < best.0 {
            best = (err, f);
        }
    }
    Ok(best.1)
}
