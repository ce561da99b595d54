//! Which tokens of which row go into which bin: TRL 1.16's `_pack_bfd` (best-fit decreasing, with
//! over-long rows truncated or split) and `_pack_wrapped` (concatenate and cut), run per batch of
//! rows as `datasets.map` runs them, or over all rows at once.

use crate::error::{Error, Result};

/// How rows are put into bins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Best-fit decreasing; a row longer than `seq_length` is cut to it (TRL's `"bfd"`).
    #[default]
    Bfd,
    /// Best-fit decreasing; a row longer than `seq_length` becomes several pieces (`"bfd_split"`).
    BfdSplit,
    /// The rows concatenated and cut every `seq_length` tokens (`"wrapped"`).
    Wrapped,
}

/// The most tokens a bin may hold: the best-fit search keeps a tree over every possible free
/// space, so its memory grows with the bin, and Arrow's `list` offsets are 32-bit.
pub const MAX_SEQ_LENGTH: usize = 1 << 24;

/// What a packing call asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PackOptions {
    /// The capacity of a bin, in tokens.
    pub seq_length: usize,
    pub strategy: Strategy,
    /// Rows binned together (TRL bins each `datasets.map` batch of 1,000 rows on its own);
    /// None: all rows in one batch.
    pub batch_rows: Option<usize>,
    /// Under `Bfd`, whether a row longer than `seq_length` is cut (TRL) or is an error.
    pub truncate: bool,
    /// Pad every bin to `seq_length` tokens.
    pub padding: bool,
}

impl PackOptions {
    pub fn new(seq_length: usize, strategy: Strategy) -> Self {
        PackOptions { seq_length, strategy, batch_rows: Some(1000), truncate: true, padding: false }
    }

    pub fn validate(&self) -> Result<()> {
        if self.seq_length < 1 || self.seq_length > MAX_SEQ_LENGTH {
            return Err(Error::input(format!(
                "seq_length must be between 1 and {MAX_SEQ_LENGTH} tokens, got {}",
                self.seq_length
            )));
        }
        if self.batch_rows == Some(0) {
            return Err(Error::input("batch_size must be at least 1 row, or None for one batch of every row"));
        }
        Ok(())
    }
}

/// A run of one row's tokens, placed in a bin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub row: usize,
    pub start_token: usize,
    pub len_tokens: usize,
}

/// The bins, in the order they were opened, each a run of `pieces` in the order they were placed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub pieces: Vec<Piece>,
    /// Bin `b` holds `pieces[bin_starts[b]..bin_starts[b + 1]]`.
    pub bin_starts: Vec<usize>,
    /// Tokens `Bfd` cut from over-long rows.
    pub truncated_tokens: usize,
    /// Rows with no token (TRL leaves them out of `bfd` bins).
    pub empty_rows: usize,
}

impl Plan {
    pub fn bins(&self) -> usize {
        self.bin_starts.len() - 1
    }

    pub fn bin(&self, bin: usize) -> &[Piece] {
        &self.pieces[self.bin_starts[bin]..self.bin_starts[bin + 1]]
    }

    pub fn bin_tokens(&self, bin: usize) -> usize {
        self.bin(bin).iter().map(|piece| piece.len_tokens).sum()
    }

    pub fn tokens(&self) -> usize {
        self.pieces.iter().map(|piece| piece.len_tokens).sum()
    }
}

/// Bins the rows `order` lists (row indices into `lengths`, in the order they are taken: a
/// shuffle or a filter is a different order), batch by batch as `options.batch_rows` says.
pub fn plan(lengths: &[usize], order: &[usize], options: &PackOptions) -> Result<Plan> {
    options.validate()?;
    let mut plan = Plan { bin_starts: vec![0], ..Plan::default() };
    let batch_rows = options.batch_rows.unwrap_or(order.len()).max(1);
    let mut binner = BestFit::new(options.seq_length);
    for batch in order.chunks(batch_rows) {
        match options.strategy {
            Strategy::Wrapped => wrap(lengths, batch, options.seq_length, &mut plan),
            Strategy::Bfd | Strategy::BfdSplit => {
                let items = bfd_items(lengths, batch, options, &mut plan)?;
                binner.place(&items, &mut plan);
            }
        }
    }
    Ok(plan)
}

/// The pieces a batch's rows become before binning: empty rows left out, an over-long row cut
/// (`Bfd`) or split into `seq_length`-token pieces with the remainder last (`BfdSplit`).
fn bfd_items(lengths: &[usize], batch: &[usize], options: &PackOptions, plan: &mut Plan) -> Result<Vec<Piece>> {
    let seq_length = options.seq_length;
    let mut items = Vec::with_capacity(batch.len());
    for &row in batch {
        let len = lengths[row];
        if len == 0 {
            plan.empty_rows += 1;
            continue;
        }
        if options.strategy == Strategy::BfdSplit {
            items.extend((0..len).step_by(seq_length).map(|start| Piece {
                row,
                start_token: start,
                len_tokens: seq_length.min(len - start),
            }));
            continue;
        }
        if len > seq_length && !options.truncate {
            return Err(Error::input(format!(
                "row {row} has {len} tokens, more than seq_length ({seq_length}): pass truncate=True to cut it \
                 (TRL's 'bfd'), or use strategy='bfd_split' to split it"
            )));
        }
        plan.truncated_tokens += len.saturating_sub(seq_length);
        items.push(Piece { row, start_token: 0, len_tokens: len.min(seq_length) });
    }
    Ok(items)
}

/// `_pack_wrapped` on one batch: its rows' tokens end to end, cut every `seq_length` tokens.
fn wrap(lengths: &[usize], batch: &[usize], seq_length: usize, plan: &mut Plan) {
    let mut room = seq_length;
    let mut open = false;
    for &row in batch {
        let mut start = 0;
        while start < lengths[row] {
            if !open || room == 0 {
                if open {
                    plan.bin_starts.push(plan.pieces.len());
                }
                open = true;
                room = seq_length;
            }
            let len = room.min(lengths[row] - start);
            plan.pieces.push(Piece { row, start_token: start, len_tokens: len });
            start += len;
            room -= len;
        }
    }
    if open {
        plan.bin_starts.push(plan.pieces.len());
    }
}

const NO_BIN: u32 = u32::MAX;

/// `_pack_bfd`'s best fit: a max segment tree over the free spaces 1..=seq_length finds the
/// smallest space that fits a piece, and the bins with that space are taken first in, first out,
/// exactly as TRL's `_SegmentTree` and `space_to_bin` deques do. Reused from batch to batch.
struct BestFit {
    seq_length: usize,
    leaves: usize,
    tree: Vec<u32>,
    /// Per free space, the first and last bin of its queue; per bin, the next one.
    head: Vec<u32>,
    tail: Vec<u32>,
    next: Vec<u32>,
}

impl BestFit {
    fn new(seq_length: usize) -> Self {
        let leaves = seq_length.next_power_of_two();
        BestFit {
            seq_length,
            leaves,
            tree: vec![0; 2 * leaves],
            head: vec![NO_BIN; seq_length + 1],
            tail: vec![NO_BIN; seq_length + 1],
            next: Vec::new(),
        }
    }

    /// Sorts `items` by length, longest first (stable, as Arrow's sort is), places each, and
    /// appends the batch's bins to `plan`.
    fn place(&mut self, items: &[Piece], plan: &mut Plan) {
        let mut sorted: Vec<usize> = (0..items.len()).collect();
        sorted.sort_by(|&a, &b| items[b].len_tokens.cmp(&items[a].len_tokens));
        let seq_length = self.seq_length;
        self.add(seq_length);
        let mut bin_len: Vec<usize> = Vec::new();
        let mut item_bin = vec![0u32; items.len()];
        for &item in &sorted {
            let len = items[item].len_tokens;
            let space = self.search(len);
            let bin = if space < seq_length {
                let bin = self.pop(space);
                if self.head[space] == NO_BIN {
                    self.remove(space);
                }
                bin
            } else {
                bin_len.push(0);
                self.next.push(NO_BIN);
                (bin_len.len() - 1) as u32
            };
            item_bin[item] = bin;
            bin_len[bin as usize] += len;
            let left = space - len;
            if left > 0 {
                self.push(left, bin);
                self.add(left);
            }
        }
        self.append_bins(items, &sorted, &item_bin, bin_len.len(), plan);
        self.reset(&bin_len);
    }

    /// The batch's pieces grouped by bin, each bin's in placement order (a stable counting sort).
    fn append_bins(&self, items: &[Piece], sorted: &[usize], item_bin: &[u32], bins: usize, plan: &mut Plan) {
        let first = plan.pieces.len();
        let mut starts = vec![0usize; bins + 1];
        for &bin in item_bin {
            starts[bin as usize + 1] += 1;
        }
        for bin in 0..bins {
            starts[bin + 1] += starts[bin];
        }
        plan.bin_starts.extend(starts[1..].iter().map(|end| first + end));
        let mut fill = starts;
        let mut placed = vec![Piece { row: 0, start_token: 0, len_tokens: 0 }; items.len()];
        for &item in sorted {
            let bin = item_bin[item] as usize;
            placed[fill[bin]] = items[item];
            fill[bin] += 1;
        }
        plan.pieces.extend(placed);
    }

    fn reset(&mut self, bin_len: &[usize]) {
        for len in bin_len {
            let space = self.seq_length - len;
            self.head[space] = NO_BIN;
            self.tail[space] = NO_BIN;
        }
        self.tree.fill(0);
        self.next.clear();
    }

    fn push(&mut self, space: usize, bin: u32) {
        self.next[bin as usize] = NO_BIN;
        match self.tail[space] {
            NO_BIN => self.head[space] = bin,
            last => self.next[last as usize] = bin,
        }
        self.tail[space] = bin;
    }

    fn pop(&mut self, space: usize) -> u32 {
        let bin = self.head[space];
        self.head[space] = self.next[bin as usize];
        if self.head[space] == NO_BIN {
            self.tail[space] = NO_BIN;
        }
        bin
    }

    fn add(&mut self, space: usize) {
        self.set(space, space as u32);
    }

    fn remove(&mut self, space: usize) {
        self.set(space, 0);
    }

    fn set(&mut self, space: usize, value: u32) {
        let mut node = self.leaves + space - 1;
        self.tree[node] = value;
        while node > 1 {
            node >>= 1;
            self.tree[node] = self.tree[2 * node].max(self.tree[2 * node + 1]);
        }
    }

    /// The smallest free space of at least `len` (`seq_length` is always free: a new bin).
    fn search(&self, len: usize) -> usize {
        let mut node = 1;
        while node < self.leaves {
            node = if self.tree[2 * node] as usize >= len { 2 * node } else { 2 * node + 1 };
        }
        self.tree[node] as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bins(plan: &Plan) -> Vec<Vec<(usize, usize, usize)>> {
        (0..plan.bins()).map(|b| plan.bin(b).iter().map(|p| (p.row, p.start_token, p.len_tokens)).collect()).collect()
    }

    fn options(seq_length: usize, strategy: Strategy) -> PackOptions {
        PackOptions::new(seq_length, strategy)
    }

    /// TRL's docstring example: lengths 5, 2, 3, 1 into 4.
    #[test]
    fn bfd_matches_trl_docstring() {
        let plan = plan(&[5, 2, 3, 1], &[0, 1, 2, 3], &options(4, Strategy::Bfd)).expect("plan");
        assert_eq!(bins(&plan), vec![vec![(0, 0, 4)], vec![(2, 0, 3), (3, 0, 1)], vec![(1, 0, 2)]]);
        assert_eq!(plan.truncated_tokens, 1);
        let split = super::plan(&[5, 2, 3, 1], &[0, 1, 2, 3], &options(4, Strategy::BfdSplit)).expect("plan");
        assert_eq!(bins(&split), vec![vec![(0, 0, 4)], vec![(2, 0, 3), (0, 4, 1)], vec![(1, 0, 2), (3, 0, 1)]]);
    }

    #[test]
    fn wrapped_cuts_every_seq_length() {
        let plan = plan(&[5, 0, 2, 3], &[0, 1, 2, 3], &options(4, Strategy::Wrapped)).expect("plan");
        assert_eq!(bins(&plan), vec![vec![(0, 0, 4)], vec![(0, 4, 1), (2, 0, 2), (3, 0, 1)], vec![(3, 1, 2)]]);
    }

    #[test]
    fn batches_are_binned_apart() {
        let mut opts = options(4, Strategy::Bfd);
        opts.batch_rows = Some(2);
        let plan = plan(&[1, 1, 1, 1], &[0, 1, 2, 3], &opts).expect("plan");
        assert_eq!(bins(&plan), vec![vec![(0, 0, 1), (1, 0, 1)], vec![(2, 0, 1), (3, 0, 1)]]);
        opts.batch_rows = None;
        assert_eq!(super::plan(&[1, 1, 1, 1], &[0, 1, 2, 3], &opts).expect("plan").bins(), 1);
    }

    #[test]
    fn over_long_rows_without_truncation_are_refused() {
        let mut opts = options(4, Strategy::Bfd);
        opts.truncate = false;
        let err = plan(&[3, 6], &[0, 1], &opts).unwrap_err();
        assert!(err.message.contains("row 1 has 6 tokens"), "{}", err.message);
        assert!(plan(&[1], &[0], &options(0, Strategy::Bfd)).is_err());
    }

    #[test]
    fn empty_rows_are_counted_and_left_out() {
        let plan = plan(&[0, 2, 0], &[0, 1, 2], &options(4, Strategy::Bfd)).expect("plan");
        assert_eq!((plan.empty_rows, plan.bins(), plan.tokens()), (2, 1, 2));
        let none = super::plan(&[], &[], &options(4, Strategy::Bfd)).expect("plan");
        assert_eq!(none.bins(), 0);
    }
}
