//! The BPE model of a byte-level tokenizer: vocabulary, merges, and the merge loop.
//!
//! The merge loop is our own, not tiktoken-rs's `CoreBPE` or the `bpe` crates: those merge by the
//! rank of the *merged token* (tiktoken's rule), while `tokenizers` merges the adjacent *pair* that
//! comes first in `merges`, leftmost on ties. The two orders agree on vocabularies converted from
//! tiktoken, but not in general (two pairs can build the same token at different priorities), and
//! ids must be identical for every supported tokenizer.json.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use ahash::AHashMap;

pub(super) use crate::tokenizer::byte_level::byte_chars;

/// Pieces up to this many bytes merge with a quadratic scan over a vector (no heap, no links),
/// longer ones with the heap `tokenizers` itself uses, so a 100 kB word stays O(n log n).
const SCAN_MAX_BYTES: usize = 96;

const NO_MERGE: (u32, u32) = (u32::MAX, u32::MAX);

/// Reusable buffers of one `encode` call.
#[derive(Default)]
pub(super) struct MergeScratch {
    /// Scan merge: (id, start byte) of each symbol, and the (rank, new id) of each adjacent pair.
    parts: Vec<(u32, u32)>,
    ranks: Vec<(u32, u32)>,
    /// Heap merge: linked symbols and candidate merges.
    symbols: Vec<Symbol>,
    heap: BinaryHeap<Reverse<(u32, u32, u32)>>,
}

#[derive(Clone, Copy)]
struct Symbol {
    id: u32,
    start: u32,
    /// Byte length; 0 once merged into its left neighbour.
    len: u32,
    prev: u32,
    next: u32,
}

const NONE: u32 = u32::MAX;

pub(super) struct Model {
    byte_ids: [u32; 256],
    /// Vocabulary entries spelled entirely in byte-level characters, keyed by the bytes they stand
    /// for: the id, and whether a piece of exactly these bytes encodes as that one token (always
    /// with `ignore_merges`; otherwise only if merging its bytes ends there).
    vocab: AHashMap<Box<[u8]>, (u32, bool)>,
    /// (left id, right id) packed in a u64 -> (rank, merged id).
    merges: AHashMap<u64, (u32, u32)>,
}

fn pair_key(left: u32, right: u32) -> u64 {
    (u64::from(left) << 32) | u64::from(right)
}

impl Model {
    /// Builds the model as `tokenizers`' `BpeBuilder::build` does, or None for a vocabulary this
    /// backend cannot reproduce (a byte without its token, two tokens sharing an id, a merge whose
    /// parts or result are missing).
    pub(super) fn new(vocab: &HashMap<String, u32>, merges: &[(String, String)], ignore_merges: bool) -> Option<Model> {
        let chars = byte_chars();
        let char_byte: AHashMap<char, u8> = (0..=255u8).map(|b| (chars[usize::from(b)], b)).collect();
        let mut ids_seen = ahash::AHashSet::with_capacity(vocab.len());
        let mut by_bytes = AHashMap::with_capacity(vocab.len());
        for (token, &id) in vocab {
            if !ids_seen.insert(id) {
                return None;
            }
            let bytes: Option<Vec<u8>> = token.chars().map(|c| char_byte.get(&c).copied()).collect();
            if let Some(bytes) = bytes {
                by_bytes.insert(bytes.into_boxed_slice(), (id, ignore_merges));
            }
        }
        let mut byte_ids = [0u32; 256];
        for (byte, slot) in byte_ids.iter_mut().enumerate() {
            *slot = *vocab.get(chars[byte].to_string().as_str())?;
        }
        let mut merge_map = AHashMap::with_capacity(merges.len());
        let mut merged_token = String::new();
        for (rank, (left, right)) in merges.iter().enumerate() {
            merged_token.clear();
            merged_token.push_str(left);
            merged_token.push_str(right);
            let merged = vocab.get(merged_token.as_str())?;
            let key = pair_key(*vocab.get(left.as_str())?, *vocab.get(right.as_str())?);
            merge_map.insert(key, (u32::try_from(rank).ok()?, *merged));
        }
        let mut model = Model { byte_ids, vocab: by_bytes, merges: merge_map };
        if !ignore_merges {
            model.mark_whole_tokens();
        }
        Some(model)
    }

    /// Without `ignore_merges`, a piece spelling a vocabulary token is that one token only when
    /// merging its bytes ends there; precomputing this per token gives the single-token fast path.
    fn mark_whole_tokens(&mut self) {
        let mut scratch = MergeScratch::default();
        let mut whole = Vec::new();
        for (bytes, &(id, _)) in &self.vocab {
            let mut tokens = 0;
            let mut single = false;
            self.merge(bytes, &mut scratch, &mut |token, _, _| {
                tokens += 1;
                single = token == id;
            });
            if tokens == 1 && single {
                whole.push(bytes.clone());
            }
        }
        for bytes in whole {
            if let Some(entry) = self.vocab.get_mut(&bytes) {
                entry.1 = true;
            }
        }
    }

    /// Encodes one pre-tokenized piece: `emit(id, start, end)` per token, byte offsets within it.
    pub(super) fn tokenize(&self, piece: &[u8], scratch: &mut MergeScratch, emit: &mut impl FnMut(u32, usize, usize)) {
        if piece.is_empty() {
            return;
        }
        if let Some(&(id, true)) = self.vocab.get(piece) {
            emit(id, 0, piece.len());
            return;
        }
        self.merge(piece, scratch, emit);
    }

    fn merge(&self, piece: &[u8], scratch: &mut MergeScratch, emit: &mut impl FnMut(u32, usize, usize)) {
        if piece.len() <= SCAN_MAX_BYTES {
            self.merge_scan(piece, scratch, emit);
        } else {
            self.merge_heap(piece, scratch, emit);
        }
    }

    fn pair(&self, left: u32, right: u32) -> (u32, u32) {
        self.merges.get(&pair_key(left, right)).copied().unwrap_or(NO_MERGE)
    }

    /// Repeatedly merges the pair of lowest rank, leftmost first: the order `tokenizers`' heap
    /// (ordered by rank, then position) produces.
    fn merge_scan(&self, piece: &[u8], scratch: &mut MergeScratch, emit: &mut impl FnMut(u32, usize, usize)) {
        let MergeScratch { parts, ranks, .. } = scratch;
        parts.clear();
        ranks.clear();
        parts.extend(piece.iter().zip(0u32..).map(|(&b, start)| (self.byte_ids[usize::from(b)], start)));
        ranks.extend(parts.windows(2).map(|w| self.pair(w[0].0, w[1].0)));
        loop {
            let mut best = (u32::MAX, 0);
            for (i, &(rank, _)) in ranks.iter().enumerate() {
                if rank < best.0 {
                    best = (rank, i);
                }
            }
            if best.0 == u32::MAX {
                break;
            }
            let i = best.1;
            parts[i].0 = ranks[i].1;
            parts.remove(i + 1);
            ranks.remove(i);
            if i > 0 {
                ranks[i - 1] = self.pair(parts[i - 1].0, parts[i].0);
            }
            if i < ranks.len() {
                ranks[i] = self.pair(parts[i].0, parts[i + 1].0);
            }
        }
        for (k, &(id, start)) in parts.iter().enumerate() {
            let end = parts.get(k + 1).map_or(piece.len(), |next| next.1 as usize);
            emit(id, start as usize, end);
        }
    }

    /// `tokenizers`' `Word::merge_all` without dropout: a min-heap of (rank, position) over a
    /// linked list; an entry is stale when the pair at its position no longer makes its token
    /// (exact, since a changed pair always spells a longer string, hence another token).
    fn merge_heap(&self, piece: &[u8], scratch: &mut MergeScratch, emit: &mut impl FnMut(u32, usize, usize)) {
        let MergeScratch { symbols, heap, .. } = scratch;
        symbols.clear();
        heap.clear();
        let n = piece.len() as u32;
        symbols.extend(piece.iter().zip(0u32..).map(|(&b, i)| Symbol {
            id: self.byte_ids[usize::from(b)],
            start: i,
            len: 1,
            prev: if i == 0 { NONE } else { i - 1 },
            next: if i + 1 == n { NONE } else { i + 1 },
        }));
        for i in 0..symbols.len() - 1 {
            let (rank, new_id) = self.pair(symbols[i].id, symbols[i + 1].id);
            if rank != u32::MAX {
                heap.push(Reverse((rank, i as u32, new_id)));
            }
        }
        while let Some(Reverse((_, pos, new_id))) = heap.pop() {
            let pos = pos as usize;
            let current = symbols[pos];
            if current.len == 0 || current.next == NONE {
                continue;
            }
            let next_pos = current.next as usize;
            let right = symbols[next_pos];
            if self.pair(current.id, right.id).1 != new_id {
                continue;
            }
            symbols[pos].id = new_id;
            symbols[pos].len += right.len;
            symbols[pos].next = right.next;
            symbols[next_pos].len = 0;
            if right.next != NONE {
                symbols[right.next as usize].prev = pos as u32;
            }
            let merged = symbols[pos];
            if merged.prev != NONE {
                let (rank, made) = self.pair(symbols[merged.prev as usize].id, merged.id);
                if rank != u32::MAX {
                    heap.push(Reverse((rank, merged.prev, made)));
                }
            }
            if merged.next != NONE {
                let (rank, made) = self.pair(merged.id, symbols[merged.next as usize].id);
                if rank != u32::MAX {
                    heap.push(Reverse((rank, pos as u32, made)));
                }
            }
        }
        for symbol in symbols.iter().filter(|s| s.len != 0) {
            emit(symbol.id, symbol.start as usize, (symbol.start + symbol.len) as usize);
        }
    }

    #[cfg(test)]
    pub(super) fn merge_both_ways(&self, piece: &[u8]) -> [Vec<(u32, usize, usize)>; 2] {
        let mut scratch = MergeScratch::default();
        let (mut scan, mut heap) = (Vec::new(), Vec::new());
        self.merge_scan(piece, &mut scratch, &mut |id, s, e| scan.push((id, s, e)));
        self.merge_heap(piece, &mut scratch, &mut |id, s, e| heap.push((id, s, e)));
        [scan, heap]
    }
}
