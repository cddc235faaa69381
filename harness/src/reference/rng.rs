//! Seeded randomness of the reference platform.
//!
//! Every random choice draws from a ChaCha8 generator derived from the platform seed, a
//! stream (service or executor) and a per-request key. The key comes from the
//! `x-harness-request-id` header when present (plus the attempt number for the executor),
//! so a replayed run with the same request ids meets the same decisions whatever the
//! interleaving of connections; without an id a per-instance counter stands in.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Which component draws, so the service and the executor never share a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    /// The orchestration service (path errors, backoff jitter).
    Service,
    /// The executor dependency (latency jitter, errors).
    Executor,
}

impl Stream {
    fn salt(self) -> u64 {
        match self {
            Self::Service => 0x5345_5256_4943_4531,
            Self::Executor => 0x4558_4543_5554_4f52,
        }
    }
}

/// SplitMix64 finaliser: spreads nearby inputs (counters, small seeds) over all bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a of a request id: stable across Rust versions, unlike `DefaultHasher`.
pub(crate) fn key_of_id(id: &[u8]) -> u64 {
    id.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A key for a request without an id: distinct from id keys for the same counter value.
pub(crate) fn key_of_counter(n: u64) -> u64 {
    mix(n ^ 0xA5A5_A5A5_A5A5_A5A5)
}

/// The `n`th run id the service hands out: a bijection of `n` for one seed, so ids never
/// repeat within a platform, and look random from one answer to the next.
pub(crate) fn run_id(seed: u64, n: u64) -> u64 {
    const RUN_SALT: u64 = 0x5255_4e5f_4944_5321;
    mix(mix(seed ^ RUN_SALT) ^ n)
}

/// The generator of one request (and attempt) in one stream.
pub(crate) fn request_rng(seed: u64, stream: Stream, key: u64, attempt: u32) -> ChaCha8Rng {
    let derived = mix(mix(seed ^ stream.salt()) ^ key).wrapping_add(mix(u64::from(attempt)));
    ChaCha8Rng::seed_from_u64(derived)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn same_inputs_give_the_same_sequence() {
        let mut a = request_rng(42, Stream::Service, key_of_id(b"req-1"), 1);
        let mut b = request_rng(42, Stream::Service, key_of_id(b"req-1"), 1);
        assert_eq!(a.random::<u64>(), b.random::<u64>());
    }

    #[test]
    fn seed_stream_key_and_attempt_each_change_the_sequence() {
        let base = request_rng(42, Stream::Service, key_of_id(b"req-1"), 1).random::<u64>();
        let others = [
            request_rng(43, Stream::Service, key_of_id(b"req-1"), 1).random::<u64>(),
            request_rng(42, Stream::Executor, key_of_id(b"req-1"), 1).random::<u64>(),
            request_rng(42, Stream::Service, key_of_id(b"req-2"), 1).random::<u64>(),
            request_rng(42, Stream::Service, key_of_id(b"req-1"), 2).random::<u64>(),
        ];
        assert!(others.iter().all(|o| *o != base));
    }

    #[test]
    fn run_ids_do_not_repeat_and_depend_on_the_seed() {
        let ids: std::collections::HashSet<u64> = (0..10_000).map(|n| run_id(7, n)).collect();
        assert_eq!(ids.len(), 10_000);
        assert_ne!(run_id(7, 0), run_id(8, 0));
        assert_ne!(run_id(7, 0), run_id(7, 1));
    }
}
