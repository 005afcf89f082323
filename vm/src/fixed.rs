//! The fixed-point number format (see `docs/FIXED_POINT.md`).
//!
//! A real tensor value `x` is stored as the 32-bit two's-complement integer
//! `q = round(x * 2^F)`, saturated to `[i32::MIN, i32::MAX]`. Products are formed
//! in 64 bits and accumulated in 64 bits; a product of two `Q(F)` values is a
//! `Q(2F)` value that is brought back with [`FixedFormat::rescale`]: add
//! `2^(F-1)` and shift right arithmetically by `F` (round half up), then saturate.

use serde::{Deserialize, Serialize};

/// Default number of fractional bits.
pub const DEFAULT_FRAC_BITS: u32 = 16;
/// Smallest accepted number of fractional bits.
pub const MIN_FRAC_BITS: u32 = 4;
/// Largest accepted number of fractional bits.
pub const MAX_FRAC_BITS: u32 = 24;

/// Parameters of the fixed-point format of one compiled model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedFormat {
    /// Width of a stored value in bits (always 32).
    pub value_bits: u32,
    /// Fractional bits `F`: one unit is `2^-F`.
    pub frac_bits: u32,
    /// Width of accumulators in bits (always 64).
    pub acc_bits: u32,
}

impl Default for FixedFormat {
    fn default() -> Self {
        Self::new(DEFAULT_FRAC_BITS)
    }
}

impl FixedFormat {
    /// A format with `frac_bits` fractional bits, 32-bit values and 64-bit accumulators.
    pub fn new(frac_bits: u32) -> Self {
        FixedFormat {
            value_bits: 32,
            frac_bits,
            acc_bits: 64,
        }
    }

    /// `2^F` as a float.
    pub fn scale(&self) -> f64 {
        (1u64 << self.frac_bits) as f64
    }

    /// The value of one unit (`2^-F`).
    pub fn resolution(&self) -> f64 {
        1.0 / self.scale()
    }

    /// Largest representable real value.
    pub fn max_value(&self) -> f64 {
        i32::MAX as f64 / self.scale()
    }

    /// Quantizes a real value: round half away from zero, then saturate.
    pub fn quantize(&self, x: f64) -> i32 {
        saturate_f64(x * self.scale())
    }

    /// The real value of a stored integer.
    pub fn dequantize(&self, q: i32) -> f64 {
        q as f64 / self.scale()
    }

    /// Brings a `Q(2F)` product back to `Q(F)`: round half up, saturate.
    pub fn rescale(&self, acc: i64) -> i32 {
        let half = 1i64 << (self.frac_bits - 1);
        saturate_i64(acc.wrapping_add(half) >> self.frac_bits)
    }
}

/// Saturates a 64-bit integer to the 32-bit range.
pub fn saturate_i64(v: i64) -> i32 {
    v.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// Rounds half away from zero and saturates to the 32-bit range; NaN becomes 0.
pub fn saturate_f64(v: f64) -> i32 {
    if v.is_nan() {
        return 0;
    }
    let r = v.round();
    if r >= i32::MAX as f64 {
        i32::MAX
    } else if r <= i32::MIN as f64 {
        i32::MIN
    } else {
        r as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_round_trip_and_saturation() {
        let f = FixedFormat::new(16);
        for (x, q) in [
            (1.0, 65536),
            (-1.5, -98304),
            (0.5 / 65536.0, 1),
            (-0.5 / 65536.0, -1),
        ] {
            assert_eq!(f.quantize(x), q, "quantize({x})");
        }
        assert_eq!(f.quantize(1e9), i32::MAX);
        assert_eq!(f.quantize(-1e9), i32::MIN);
        assert_eq!(f.quantize(f64::NAN), 0);
        assert_eq!(f.dequantize(f.quantize(3.25)), 3.25);
    }

    #[test]
    fn rescale_rounds_half_up() {
        let f = FixedFormat::new(4);
        // 1.5 * 1.5 = 2.25 -> in Q4: 24*24 = 576 (Q8), 576/16 = 36 = 2.25
        assert_eq!(f.rescale(24 * 24), 36);
        assert_eq!(f.rescale(8), 1); // 0.5 unit rounds up
        assert_eq!(f.rescale(-8), 0); // -0.5 unit rounds up to 0
        assert_eq!(f.rescale(-9), -1);
        assert_eq!(f.rescale(i64::MAX / 2), i32::MAX);
    }
}
