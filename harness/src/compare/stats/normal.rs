//! The standard normal distribution: its CDF (through the complementary error
//! function) and its quantile function.
//!
//! `erfc` uses the positive-term power series of Abramowitz & Stegun 7.1.6 below
//! x = 2 and the classical continued fraction (A&S 7.1.14, evaluated with the modified
//! Lentz method) above, which keeps its relative error near 1e-15 in both tails.
//! The quantile is Acklam's rational approximation (relative error 1.15e-9) followed by
//! one Halley refinement step against that `erfc`, which brings it to full double
//! precision in the range that matters here.

use std::f64::consts::{FRAC_1_SQRT_2, PI};

/// Standard normal cumulative distribution function Φ(x).
///
/// NaN gives NaN; ±∞ give 1 and 0.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x * FRAC_1_SQRT_2)
}

/// Standard normal quantile Φ⁻¹(p) (Acklam's algorithm with one Halley step).
///
/// `p <= 0` gives −∞, `p >= 1` gives +∞ and NaN gives NaN, so callers can treat the
/// result as a bound without a special case.
pub fn normal_quantile(p: f64) -> f64 {
    if p.is_nan() {
        return f64::NAN;
    }
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let x = acklam(p);
    // Halley's step on Φ(x) − p; it triples the number of correct digits.
    let e = normal_cdf(x) - p;
    let u = e * (2.0 * PI).sqrt() * (0.5 * x * x).exp();
    let refined = x - u / (1.0 + 0.5 * x * u);
    if refined.is_finite() { refined } else { x }
}

/// Acklam's rational approximation of Φ⁻¹(p) for `0 < p < 1`.
fn acklam(p: f64) -> f64 {
    // Coefficients published by Peter J. Acklam, "An algorithm for computing the
    // inverse normal cumulative distribution function" (2003).
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.02425;

    let tail = |q: f64| {
        let num = ((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5];
        let den = (((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0;
        num / den
    };
    if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - P_LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        let num = (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q;
        let den = ((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0;
        num / den
    }
}

/// Complementary error function erfc(x) = 1 − erf(x).
pub(crate) fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 2.0 {
        1.0 - erf_series(x)
    } else {
        erfc_continued_fraction(x)
    }
}

/// erf(x) for `0 <= x < 2` from A&S 7.1.6:
/// erf x = (2/√π) e^(−x²) Σ 2ⁿ x^(2n+1) / (1·3···(2n+1)).
///
/// Every term is positive, so there is no cancellation (unlike the alternating Taylor
/// series of erf).
fn erf_series(x: f64) -> f64 {
    let two_x2 = 2.0 * x * x;
    let mut term = x;
    let mut sum = x;
    for n in 1..200 {
        term *= two_x2 / f64::from(2 * n + 1);
        sum += term;
        if term <= sum * 1e-17 {
            break;
        }
    }
    2.0 / PI.sqrt() * (-x * x).exp() * sum
}

/// erfc(x) for `x >= 2` from the continued fraction (A&S 7.1.14):
/// erfc x = (e^(−x²)/√π) · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))).
fn erfc_continued_fraction(x: f64) -> f64 {
    if x.is_infinite() {
        return 0.0;
    }
    // Modified Lentz evaluation of b0 + a1/(b1 + a2/(b2 + …)) with b = x, a_n = n/2.
    const TINY: f64 = 1e-300;
    let mut f = x;
    let mut c = x;
    let mut d = 0.0;
    for n in 1..500 {
        let a = f64::from(n) / 2.0;
        d = x + a * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = x + a / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x * x).exp() / (PI.sqrt() * f)
}

/// The two-sided critical value z with Φ(z) = 1 − (1 − confidence)/2.
pub(crate) fn two_sided_z(confidence: f64) -> f64 {
    normal_quantile(1.0 - (1.0 - confidence) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, relative: f64) -> bool {
        (actual - expected).abs() <= relative * expected.abs().max(1e-300)
    }

    /// Reference values: Python's `math.erfc` (which wraps the C library).
    #[test]
    fn erfc_matches_reference_values() {
        let cases = [
            (0.0, 1.0),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_13),
            (2.0, 0.004_677_734_981_047_265),
            (2.5, 0.000_406_952_017_444_958_9),
            (3.0, 2.209_049_699_858_543_8e-5),
            (5.0, 1.537_459_794_428_035_1e-12),
            (10.0, 2.088_487_583_762_545e-45),
            (26.0, 5.663_192_408_856_143e-296),
            (-1.0, 1.842_700_792_949_715),
            (-3.0, 1.999_977_909_503_001_5),
        ];
        for (x, expected) in cases {
            let got = erfc(x);
            assert!(
                close(got, expected, 1e-13),
                "erfc({x}) = {got}, want {expected}"
            );
        }
        assert_eq!(erfc(f64::INFINITY), 0.0);
        assert_eq!(erfc(f64::NEG_INFINITY), 2.0);
        assert!(erfc(f64::NAN).is_nan());
    }

    /// Reference values: Python's `statistics.NormalDist().inv_cdf` (Wichura's AS 241).
    #[test]
    fn normal_quantile_matches_reference_values() {
        let cases = [
            (0.975, 1.959_963_984_540_053_6),
            (0.95, 1.644_853_626_951_471_5),
            (0.995, 2.575_829_303_548_9),
            (0.9, 1.281_551_565_544_600_8),
            (0.999, 3.090_232_306_167_813),
            (0.3, -0.524_400_512_708_040_7),
            (0.02425, -1.972_961_051_311_884_5),
            (1e-10, -6.361_340_902_404_056),
            (1e-300, -37.047_096_299_361_2),
        ];
        for (p, expected) in cases {
            let got = normal_quantile(p);
            assert!(
                close(got, expected, 1e-12),
                "Φ⁻¹({p}) = {got}, want {expected}"
            );
        }
        assert_eq!(normal_quantile(0.5), 0.0);
    }

    #[test]
    fn normal_quantile_degenerate_inputs() {
        assert_eq!(normal_quantile(0.0), f64::NEG_INFINITY);
        assert_eq!(normal_quantile(-1.0), f64::NEG_INFINITY);
        assert_eq!(normal_quantile(1.0), f64::INFINITY);
        assert_eq!(normal_quantile(7.0), f64::INFINITY);
        assert!(normal_quantile(f64::NAN).is_nan());
        assert_eq!(two_sided_z(0.0), 0.0);
    }

    #[test]
    fn normal_quantile_inverts_the_cdf_and_is_symmetric() {
        for i in 1..1000 {
            let p = f64::from(i) / 1000.0;
            let x = normal_quantile(p);
            assert!(
                close(normal_cdf(x), p, 1e-13),
                "Φ(Φ⁻¹({p})) = {}",
                normal_cdf(x)
            );
            assert!(
                (x + normal_quantile(1.0 - p)).abs() < 1e-12,
                "asymmetric at {p}"
            );
        }
    }
}
