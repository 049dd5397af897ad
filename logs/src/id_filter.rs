//! The per-block filter of id-like tokens (hex ids, long numbers), which the
//! term dictionary leaves out (tokens.rs): a Bloom filter of the block's
//! distinct id tokens, stored after the block in its blocks file, and the
//! length of the longest one, in the block's index document.
//!
//! A needle token that is a whole id is looked up in the filter. One that may
//! be part of a longer token can only be inside an id at least as long: if
//! the block's longest id is shorter, the block has no match; if it is
//! exactly as long, the id must equal the token, and the filter is asked; if
//! it is longer, the block is read.

use xxhash_rust::xxh3::xxh3_64;

/// About 0.1% false positives with [`HASHES`] probes: a trace id searched
/// over 3000 blocks then reads about 3 blocks that do not hold it.
const BITS_PER_ID: usize = 14;
const HASHES: u64 = 10;

/// Builds the filter of a block's id tokens (empty when there are none).
pub fn build<'a>(ids: impl ExactSizeIterator<Item = &'a str>) -> Vec<u8> {
    if ids.len() == 0 {
        return Vec::new();
    }
    let bytes = (ids.len() * BITS_PER_ID).div_ceil(8).max(8);
    let mut filter = vec![0u8; bytes];
    let bits = bytes as u64 * 8;
    for id in ids {
        for bit in probes(id, bits) {
            filter[(bit / 8) as usize] |= 1 << (bit % 8);
        }
    }
    filter
}

/// Whether the filter may hold `id` (false: it certainly does not).
pub fn may_contain(filter: &[u8], id: &str) -> bool {
    if filter.is_empty() {
        return false;
    }
    let bits = filter.len() as u64 * 8;
    probes(id, bits).all(|bit| filter[(bit / 8) as usize] & (1 << (bit % 8)) != 0)
}

/// Double hashing: bit i is h1 + i·h2 (Kirsch–Mitzenmacher).
fn probes(id: &str, bits: u64) -> impl Iterator<Item = u64> {
    let hash = xxh3_64(id.as_bytes());
    let (h1, h2) = (hash & 0xffff_ffff, (hash >> 32) | 1);
    (0..HASHES).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % bits)
}

/// Whether a block whose longest id has `longest` bytes, with `filter`, may
/// hold a line containing `token`; `whole` when the needle shows the token
/// with delimiters on both sides.
pub fn block_may_match(filter: &[u8], longest: u64, token: &str, whole: bool) -> bool {
    decided_by_length(longest, token, whole).unwrap_or_else(|| may_contain(filter, token))
}

/// What [`block_may_match`] answers without reading the filter, if anything.
pub fn decided_by_length(longest: u64, token: &str, whole: bool) -> Option<bool> {
    let length = token.len() as u64;
    if whole || longest == length {
        None
    } else {
        Some(longest > length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_what_was_put_and_little_else() {
        let ids: Vec<String> = (0..1000).map(|i| format!("{:032x}", i * 7919)).collect();
        let filter = build(ids.iter().map(String::as_str));
        assert!(ids.iter().all(|id| may_contain(&filter, id)));
        let false_positives = (0..10_000)
            .filter(|i| may_contain(&filter, &format!("{:032x}", 1_000_000_007 + i)))
            .count();
        assert!(
            false_positives < 200,
            "{false_positives} false positives in 10000"
        );
        assert!(!may_contain(&build(std::iter::empty()), "abc"));
    }

    #[test]
    fn partial_tokens_use_the_longest_id() {
        let filter = build(["4bf92f3577b34da6a3ce929d0e0e4736"].into_iter());
        // Same length as the longest id: it must be that id.
        assert!(block_may_match(
            &filter,
            32,
            "4bf92f3577b34da6a3ce929d0e0e4736",
            false
        ));
        assert!(!block_may_match(
            &filter,
            32,
            "00000000000000000000000000000000",
            false
        ));
        // Shorter: it may be inside a longer id; longer: it cannot be in any.
        assert!(block_may_match(&filter, 32, "4bf92f35", false));
        assert!(!block_may_match(
            &filter,
            16,
            "4bf92f3577b34da6a3ce929d0e0e4736",
            false
        ));
        // Whole tokens are looked up whatever the lengths.
        assert!(!block_may_match(
            &filter,
            40,
            "00000000000000000000000000000000",
            true
        ));
    }
}
