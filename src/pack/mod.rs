//! Sequence packing: encoded rows into bins of at most `seq_length` tokens, as TRL 1.16's
//! `pack_dataset` forms them (`plan`), with every token column copied bin by bin in its own type
//! (`columns`), and the layouts padding-free attention reads: `position_ids` restarting at each
//! sequence, `seq_lengths`, flash-attention's `cu_seqlens` and segment ids.

mod columns;
mod plan;

use rayon::prelude::*;

pub use columns::{Columns, Rows, Token, Values};
pub use plan::{plan, PackOptions, Piece, Plan, Strategy, MAX_SEQ_LENGTH};

use crate::error::{Error, Result};
use crate::runtime::{pool, Threads};

/// One packing call: the binning, and what happens to the rows and columns around it.
#[derive(Debug, Clone)]
pub struct PackRequest {
    pub options: PackOptions,
    /// What `input_ids` is padded with (needed with `options.padding`).
    pub pad_token_id: Option<i64>,
    /// The label of untrained tokens: of padding, and of each sequence's first token when asked.
    pub ignore_index: i64,
    /// Each sequence's first label becomes `ignore_index`, as TRL's padding-free collator does
    /// (the token before it belongs to another sequence).
    pub ignore_first_label: bool,
    /// Leave out rows with no trained token (a label other than `ignore_index`, else an
    /// `assistant_masks` value other than 0) among the tokens they keep.
    pub drop_untrained: bool,
    /// The rows to take, in order (a shuffle); None: every row in its order.
    pub order: Option<Vec<usize>>,
    pub return_position_ids: bool,
    pub return_cu_seqlens: bool,
    pub return_segment_ids: bool,
    pub threads: Threads,
}

impl PackRequest {
    pub fn new(options: PackOptions) -> Self {
        PackRequest {
            options,
            pad_token_id: None,
            ignore_index: -100,
            ignore_first_label: false,
            drop_untrained: false,
            order: None,
            return_position_ids: true,
            return_cu_seqlens: false,
            return_segment_ids: false,
            threads: None,
        }
    }
}

/// A list column built by packing: its values, and where each bin's run starts (`bins + 1`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ragged<T> {
    pub values: Vec<T>,
    pub offsets: Vec<usize>,
}

/// Counts of a packing call, for its report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PackStats {
    pub rows: usize,
    /// Rows without a token, left out of `bfd` bins as TRL leaves them.
    pub empty_rows: usize,
    /// Rows left out by `drop_untrained`.
    pub untrained_rows: usize,
    /// Sequences placed (a split row is several).
    pub sequences: usize,
    pub bins: usize,
    /// Tokens placed, padding excluded.
    pub tokens: usize,
    /// Tokens `bfd` cut from rows longer than `seq_length`.
    pub truncated_tokens: usize,
    /// Tokens with a label other than `ignore_index` (else an assistant mask of 1), before
    /// `ignore_first_label`.
    pub trained_tokens: usize,
    /// `bins * seq_length`.
    pub capacity_tokens: usize,
}

/// The packed batch. Every token column, `position_ids` and `segment_ids` share `bin_offsets`.
#[derive(Debug, Clone, Default)]
pub struct Packed {
    pub columns: Vec<(String, Values)>,
    pub bin_offsets: Vec<usize>,
    pub position_ids: Option<Vec<i32>>,
    /// Per bin, its sequences' lengths (padding, when there is some, is the last); None for
    /// `wrapped`, where a bin is one sequence, as TRL writes it.
    pub seq_lengths: Option<Ragged<i32>>,
    pub cu_seqlens: Option<Ragged<i32>>,
    pub segment_ids: Option<Vec<i32>>,
    /// Per bin, the input row of each piece in it, for the columns that are not token lists.
    pub piece_rows: Ragged<usize>,
    pub stats: PackStats,
}

/// Packs `columns` (the first is the one whose lengths decide; `input_ids` for encoded rows).
pub fn pack(columns: &Columns<'_>, request: &PackRequest) -> Result<Packed> {
    let options = &request.options;
    options.validate()?;
    if options.padding && request.pad_token_id.is_none() && columns.get("input_ids").is_some() {
        return Err(Error::input("padding to seq_length needs pad_token_id, the id input_ids is padded with"));
    }
    let lengths = columns.lengths();
    let order = rows_in_order(columns, request)?;
    let plan = plan::plan(&lengths, &order, options)?;
    let padded_to = options.padding.then_some(options.seq_length);
    let trained = trained_column(columns);
    let gathered = pool::install(request.threads, || {
        rayon::join(
            || {
                columns
                    .columns
                    .par_iter()
                    .map(|(name, rows)| {
                        let values = rows.gather(&plan, pad_value(name, request), padded_to)?;
                        let count = (Some(name.as_str()) == trained.map(|(column, _)| column))
                            .then(|| values.count_other_than(trained.map_or(0, |(_, skip)| skip(request))));
                        Ok((name.clone(), values, count))
                    })
                    .collect::<Result<Vec<_>>>()
            },
            || Layout::new(&plan, options.strategy, padded_to),
        )
    })?;
    let (gathered, layout) = gathered;
    let mut packed = Packed { bin_offsets: layout.bin_offsets(), ..Packed::default() };
    let mut trained_tokens = 0;
    for (name, values, count) in gathered? {
        trained_tokens += count.unwrap_or(0);
        packed.columns.push((name, values));
    }
    if request.ignore_first_label {
        let firsts = layout.first_tokens();
        for (_, values) in packed.columns.iter_mut().filter(|(name, _)| name == "labels") {
            values.set(&firsts, request.ignore_index)?;
        }
    }
    packed.position_ids = request.return_position_ids.then(|| layout.position_ids());
    packed.segment_ids = request.return_segment_ids.then(|| layout.segment_ids());
    packed.cu_seqlens = request.return_cu_seqlens.then(|| layout.cu_seqlens());
    packed.seq_lengths = (options.strategy != Strategy::Wrapped).then(|| layout.seq_lengths());
    packed.piece_rows =
        Ragged { values: plan.pieces.iter().map(|piece| piece.row).collect(), offsets: plan.bin_starts.clone() };
    packed.stats = PackStats {
        rows: columns.rows(),
        empty_rows: plan.empty_rows,
        untrained_rows: columns.rows().saturating_sub(order.len()),
        sequences: plan.pieces.len(),
        bins: plan.bins(),
        tokens: plan.tokens(),
        truncated_tokens: plan.truncated_tokens,
        trained_tokens,
        capacity_tokens: plan.bins() * options.seq_length,
    };
    Ok(packed)
}

/// The rows to bin, in order: the request's order (checked), less the untrained rows when asked.
fn rows_in_order(columns: &Columns<'_>, request: &PackRequest) -> Result<Vec<usize>> {
    let rows = columns.rows();
    let order = match &request.order {
        Some(order) => {
            if let Some(&row) = order.iter().find(|&&row| row >= rows) {
                return Err(Error::input(format!("row order names row {row}, but there are {rows} rows")));
            }
            order.clone()
        }
        None => (0..rows).collect(),
    };
    if !request.drop_untrained {
        return Ok(order);
    }
    let (column, skip) = trained_column(columns).ok_or_else(|| {
        Error::input("drop_untrained needs a labels or an assistant_masks column to tell which rows are trained")
    })?;
    let rows = columns.get(column).ok_or_else(|| Error::input("no trained column"))?;
    let options = &request.options;
    // Under truncating `bfd` only the tokens a row keeps count.
    let kept = if options.strategy == Strategy::Bfd { options.seq_length } else { usize::MAX };
    let skip = skip(request);
    Ok(order.into_iter().filter(|&row| rows.has_other_than(row, skip, kept)).collect())
}

type Untrained = fn(&PackRequest) -> i64;

/// The column that says which tokens are trained, and its untrained value.
fn trained_column(columns: &Columns<'_>) -> Option<(&'static str, Untrained)> {
    if columns.get("labels").is_some() {
        return Some(("labels", |request| request.ignore_index));
    }
    columns.get("assistant_masks").map(|_| ("assistant_masks", (|_| 0) as Untrained))
}

fn pad_value(column: &str, request: &PackRequest) -> i64 {
    match column {
        "input_ids" => request.pad_token_id.unwrap_or(0),
        "labels" => request.ignore_index,
        _ => 0,
    }
}

/// The sequences of each bin (a `bfd` piece, or a whole `wrapped` bin; the padding is one more),
/// from which the position and boundary columns are built.
struct Layout {
    /// Per sequence, its length and whether it is padding.
    sequences: Vec<(usize, bool)>,
    /// Bin `b` holds `sequences[starts[b]..starts[b + 1]]`.
    starts: Vec<usize>,
}

impl Layout {
    fn new(plan: &Plan, strategy: Strategy, padded_to: Option<usize>) -> Self {
        let mut layout = Layout { sequences: Vec::with_capacity(plan.pieces.len()), starts: vec![0] };
        for bin in 0..plan.bins() {
            let tokens = plan.bin_tokens(bin);
            match strategy {
                Strategy::Wrapped => layout.sequences.push((tokens, false)),
                Strategy::Bfd | Strategy::BfdSplit => {
                    layout.sequences.extend(plan.bin(bin).iter().map(|piece| (piece.len_tokens, false)))
                }
            }
            if let Some(len) = padded_to.filter(|&len| len > tokens) {
                layout.sequences.push((len - tokens, true));
            }
            layout.starts.push(layout.sequences.len());
        }
        layout
    }

    fn bins(&self) -> usize {
        self.starts.len() - 1
    }

    fn bin(&self, bin: usize) -> &[(usize, bool)] {
        &self.sequences[self.starts[bin]..self.starts[bin + 1]]
    }

    fn bin_offsets(&self) -> Vec<usize> {
        let mut offsets = Vec::with_capacity(self.starts.len());
        offsets.push(0);
        for bin in 0..self.bins() {
            offsets.push(offsets[bin] + self.bin(bin).iter().map(|&(len, _)| len).sum::<usize>());
        }
        offsets
    }

    fn tokens(&self) -> usize {
        self.sequences.iter().map(|&(len, _)| len).sum()
    }

    fn position_ids(&self) -> Vec<i32> {
        let mut out = Vec::with_capacity(self.tokens());
        for &(len, _) in &self.sequences {
            out.extend(0..len as i32);
        }
        out
    }

    /// 1, 2, ... for the sequences of each bin, 0 for padding (LLaMA-Factory's `neat_packing`).
    fn segment_ids(&self) -> Vec<i32> {
        let mut out = Vec::with_capacity(self.tokens());
        for bin in 0..self.bins() {
            for (index, &(len, padding)) in self.bin(bin).iter().enumerate() {
                let segment = if padding { 0 } else { index as i32 + 1 };
                out.resize(out.len() + len, segment);
            }
        }
        out
    }

    fn seq_lengths(&self) -> Ragged<i32> {
        Ragged { values: self.sequences.iter().map(|&(len, _)| len as i32).collect(), offsets: self.starts.clone() }
    }

    /// Per bin, 0 and each sequence's end: `n + 1` entries, as flash-attention's varlen kernels read.
    fn cu_seqlens(&self) -> Ragged<i32> {
        let mut out = Ragged { values: Vec::with_capacity(self.sequences.len() + self.bins()), offsets: vec![0] };
        for bin in 0..self.bins() {
            let mut end = 0;
            out.values.push(0);
            for &(len, _) in self.bin(bin) {
                end += len as i32;
                out.values.push(end);
            }
            out.offsets.push(out.values.len());
        }
        out
    }

    /// Where each sequence that is not padding starts, in the packed columns.
    fn first_tokens(&self) -> Vec<usize> {
        let mut firsts = Vec::with_capacity(self.sequences.len());
        let mut at = 0;
        for &(len, padding) in &self.sequences {
            if !padding {
                firsts.push(at);
            }
            at += len;
        }
        firsts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns<'a>(ids: &[&'a [i64]], labels: &[&'a [i64]]) -> Columns<'a> {
        let mut columns = Columns::default();
        columns.push("input_ids", Rows::I64(ids.to_vec())).expect("ids");
        columns.push("labels", Rows::I64(labels.to_vec())).expect("labels");
        columns
    }

    #[test]
    fn layouts_follow_the_sequences() {
        let cols = columns(&[&[1, 2, 3], &[4, 5], &[6]], &[&[-100, 2, 3], &[-100, -100], &[6]]);
        let mut request = PackRequest::new(PackOptions::new(4, Strategy::Bfd));
        request.return_cu_seqlens = true;
        request.return_segment_ids = true;
        request.ignore_first_label = true;
        let packed = pack(&cols, &request).expect("packs");
        assert_eq!(packed.columns[0].1, Values::I64(vec![1, 2, 3, 6, 4, 5]));
        assert_eq!(packed.columns[1].1, Values::I64(vec![-100, 2, 3, -100, -100, -100]));
        assert_eq!(packed.bin_offsets, vec![0, 4, 6]);
        assert_eq!(packed.position_ids, Some(vec![0, 1, 2, 0, 0, 1]));
        assert_eq!(packed.segment_ids, Some(vec![1, 1, 1, 2, 1, 1]));
        assert_eq!(packed.cu_seqlens.expect("asked").values, vec![0, 3, 4, 0, 2]);
        assert_eq!(packed.seq_lengths.expect("bfd").values, vec![3, 1, 2]);
        assert_eq!(packed.piece_rows.values, vec![0, 2, 1]);
        assert_eq!(packed.stats.trained_tokens, 3);
    }

    #[test]
    fn padding_is_a_sequence_of_its_own() {
        let cols = columns(&[&[1, 2, 3]], &[&[1, 2, 3]]);
        let mut request = PackRequest::new(PackOptions { padding: true, ..PackOptions::new(5, Strategy::Bfd) });
        assert!(pack(&cols, &request).is_err(), "padding needs a pad id");
        request.pad_token_id = Some(0);
        request.return_segment_ids = true;
        let packed = pack(&cols, &request).expect("packs");
        assert_eq!(packed.columns[0].1, Values::I64(vec![1, 2, 3, 0, 0]));
        assert_eq!(packed.columns[1].1, Values::I64(vec![1, 2, 3, -100, -100]));
        assert_eq!(packed.position_ids, Some(vec![0, 1, 2, 0, 1]));
        assert_eq!(packed.segment_ids, Some(vec![1, 1, 1, 0, 0]));
        assert_eq!(packed.seq_lengths.expect("bfd").values, vec![3, 2]);
    }

    #[test]
    fn untrained_rows_are_dropped_when_asked() {
        let cols = columns(&[&[1, 2], &[3], &[4, 5]], &[&[-100, -100], &[3], &[-100, 5]]);
        let mut request = PackRequest::new(PackOptions::new(8, Strategy::Bfd));
        request.drop_untrained = true;
        let packed = pack(&cols, &request).expect("packs");
        assert_eq!(packed.columns[0].1, Values::I64(vec![4, 5, 3]));
        assert_eq!(packed.stats.untrained_rows, 1);
        request.order = Some(vec![3]);
        assert!(pack(&cols, &request).is_err());
    }
}
