//! Student's t distribution: its CDF and quantile function, for intervals whose standard
//! error is estimated from a few runs.
//!
//! The CDF goes through the regularised incomplete beta function:
//! P(T ≤ t) = 1 − ½·I_x(ν/2, ½) with x = ν/(ν + t²) for t ≥ 0 (Abramowitz & Stegun
//! 26.7.1 with 26.5.27). I_x(a, b) is evaluated with its continued fraction
//! (A&S 26.5.8) by the modified Lentz method, on whichever of x and 1 − x converges
//! fast (A&S 26.5.2), and ln Γ with Lanczos' approximation (g = 7, nine terms). The
//! quantile inverts the CDF by bisection, which is slow but cannot fail.
//! `df = None` means infinitely many degrees of freedom: the standard normal.

use super::normal::{normal_cdf, normal_quantile};

/// P(T ≤ t) for Student's t with `df` degrees of freedom (`None`: the normal).
///
/// NaN in, NaN out; ±∞ give 1 and 0. A `df` that is not positive gives NaN.
pub fn student_cdf(t: f64, df: Option<f64>) -> f64 {
    let Some(nu) = df else {
        return normal_cdf(t);
    };
    if t.is_nan() || nu.is_nan() || nu <= 0.0 {
        return f64::NAN;
    }
    if t.is_infinite() {
        return if t > 0.0 { 1.0 } else { 0.0 };
    }
    if nu > 1e7 {
        return normal_cdf(t);
    }
    let x = nu / (nu + t * t);
    let tail = 0.5 * incomplete_beta(0.5 * nu, 0.5, x);
    if t >= 0.0 { 1.0 - tail } else { tail }
}

/// The p-quantile of Student's t with `df` degrees of freedom (`None`: the normal).
///
/// `p <= 0` gives −∞, `p >= 1` gives +∞; NaN and a `df` that is not positive give NaN.
pub fn student_quantile(p: f64, df: Option<f64>) -> f64 {
    let Some(nu) = df else {
        return normal_quantile(p);
    };
    if p.is_nan() || nu.is_nan() || nu <= 0.0 {
        return f64::NAN;
    }
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    if p < 0.5 {
        return -student_quantile(1.0 - p, df);
    }
    if p == 0.5 {
        return 0.0;
    }
    // The t quantile is at least the normal one; double the bracket until it holds p.
    let mut low = normal_quantile(p).max(0.0);
    let mut high = low.max(1.0);
    while student_cdf(high, df) < p {
        low = high;
        high *= 2.0;
        if !high.is_finite() {
            return f64::INFINITY;
        }
    }
    for _ in 0..200 {
        let mid = low + (high - low) / 2.0;
        if mid <= low || mid >= high {
            break;
        }
        if student_cdf(mid, df) < p {
            low = mid;
        } else {
            high = mid;
        }
    }
    high
}

/// The regularised incomplete beta function I_x(a, b) for a, b > 0 and 0 ≤ x ≤ 1.
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    // x^a (1 − x)^b / (a B(a, b)), in logs.
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    // The continued fraction converges fast for x < (a + 1)/(a + b + 2); use the symmetry
    // I_x(a, b) = 1 − I_{1−x}(b, a) on the other side.
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    }
}

/// The continued fraction of A&S 26.5.8, by the modified Lentz method.
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const EPSILON: f64 = 1e-15;
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0));
    let mut result = d;
    for m in 1..=500 {
        let m = f64::from(m);
        // Even term d_{2m}, then odd term d_{2m+1}.
        let even = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        d = 1.0 / guard(1.0 + even * d);
        c = guard(1.0 + even / c);
        result *= d * c;
        let odd = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        d = 1.0 / guard(1.0 + odd * d);
        c = guard(1.0 + odd / c);
        let step = d * c;
        result *= step;
        if (step - 1.0).abs() < EPSILON {
            break;
        }
    }
    result
}

/// ln Γ(x) for x > 0, by Lanczos' approximation (g = 7, n = 9), with the reflection
/// formula below ½; relative error near 1e-15.
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEFFICIENTS: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = COEFFICIENTS[0];
    for (i, c) in COEFFICIENTS.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Critical values from any t table (two-sided 95% and 99%, one-sided 95%).
    #[test]
    fn quantiles_match_published_tables() {
        let cases = [
            (0.975, 1.0, 12.706_204_736),
            (0.975, 2.0, 4.302_652_730),
            (0.975, 4.0, 2.776_445_105),
            (0.975, 8.0, 2.306_004_135),
            (0.975, 30.0, 2.042_272_456),
            (0.995, 4.0, 4.604_094_871),
            (0.95, 3.0, 2.353_363_435),
            (0.95, 1.5, 3.705_180_820),
        ];
        for (p, df, expected) in cases {
            let q = student_quantile(p, Some(df));
            assert!(
                (q - expected).abs() < 1e-6,
                "t({p}, {df}) = {q}, not {expected}"
            );
            let back = student_cdf(expected, Some(df));
            assert!((back - p).abs() < 1e-8, "cdf({expected}, {df}) = {back}");
        }
    }

    #[test]
    fn closed_forms() {
        // One degree of freedom is the Cauchy distribution: ½ + atan(t)/π.
        for t in [-30.0f64, -2.0, -0.3, 0.0, 0.7, 5.0, 1e4] {
            let cauchy = 0.5 + f64::atan(t) / std::f64::consts::PI;
            assert!((student_cdf(t, Some(1.0)) - cauchy).abs() < 1e-12, "{t}");
        }
        // Two degrees of freedom: ½ + t / (2√(2 + t²)).
        for t in [-9.0f64, -1.0, 0.2, 3.0] {
            let two = 0.5 + t / (2.0 * (2.0 + t * t).sqrt());
            assert!((student_cdf(t, Some(2.0)) - two).abs() < 1e-12, "{t}");
        }
        assert_eq!(student_cdf(1.3, None), normal_cdf(1.3));
        assert!((student_cdf(1.96, Some(1e9)) - normal_cdf(1.96)).abs() < 1e-12);
    }

    #[test]
    fn tails_keep_their_precision() {
        // P(T > 20) with 4 df (scipy.stats.t.sf(20, 4)).
        let exact = 1.844_155_290_149_865_5e-5;
        let upper = 1.0 - student_cdf(20.0, Some(4.0));
        assert!((upper / exact - 1.0).abs() < 1e-6, "{upper} vs {exact}");
        assert!(student_cdf(-20.0, Some(4.0)) > 0.0);
    }

    #[test]
    fn degenerate_inputs() {
        assert!(student_cdf(f64::NAN, Some(3.0)).is_nan());
        assert!(student_cdf(1.0, Some(0.0)).is_nan());
        assert_eq!(student_cdf(f64::INFINITY, Some(3.0)), 1.0);
        assert_eq!(student_cdf(f64::NEG_INFINITY, Some(3.0)), 0.0);
        assert_eq!(student_quantile(0.0, Some(3.0)), f64::NEG_INFINITY);
        assert_eq!(student_quantile(1.0, Some(3.0)), f64::INFINITY);
        assert!(student_quantile(0.5, Some(-1.0)).is_nan());
        assert_eq!(student_quantile(0.5, Some(3.0)), 0.0);
        assert!((student_quantile(0.025, Some(4.0)) + 2.776_445_105).abs() < 1e-6);
    }
}
