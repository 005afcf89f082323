//! Float reference inference with tract, for calibration, accuracy reports and
//! benchmarks. Never part of the provable path.

use crate::error::{Error, Result};
use crate::npy::Tensor;
use tract_onnx::prelude::*;

/// A float model optimized by tract for fixed input shapes.
pub struct FloatModel {
    plan: std::sync::Arc<TypedRunnableModel>,
}

fn tr(e: impl std::fmt::Display) -> Error {
    Error::Runtime(format!("tract: {e}"))
}

impl FloatModel {
    /// Loads ONNX bytes with the given input shapes and types.
    pub fn new(
        onnx: &[u8],
        inputs: &[(Vec<usize>, crate::compiler::graph::DType)],
    ) -> Result<FloatModel> {
        let mut model = tract_onnx::onnx()
            .model_for_read(&mut &onnx[..])
            .map_err(tr)?;
        for (i, (shape, dt)) in inputs.iter().enumerate() {
            let fact = match dt {
                crate::compiler::graph::DType::Float32 => f32::fact(shape),
                _ => i64::fact(shape),
            };
            model = model.with_input_fact(i, fact.into()).map_err(tr)?;
        }
        let plan = model
            .into_optimized()
            .map_err(tr)?
            .into_runnable()
            .map_err(tr)?;
        Ok(FloatModel { plan })
    }

    /// Runs the model; returns each output flattened to f64.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Vec<f64>>> {
        let tv: TVec<TValue> = inputs
            .iter()
            .map(|t| match t {
                Tensor::F32(a) => tract_onnx::prelude::Tensor::from(a.clone()).into(),
                Tensor::I64(a) => tract_onnx::prelude::Tensor::from(a.clone()).into(),
            })
            .collect();
        let out = self.plan.run(tv).map_err(tr)?;
        out.iter()
            .map(|t| {
                let t = t.cast_to::<f64>().map_err(tr)?;
                Ok(t.to_plain_array_view::<f64>()
                    .map_err(tr)?
                    .iter()
                    .copied()
                    .collect())
            })
            .collect()
    }
}
