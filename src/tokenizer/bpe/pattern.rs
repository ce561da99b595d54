//! A small backtracking matcher for the split regexes of byte-level tokenizers, several times
//! faster than onig on them (onig pays a heap allocation and a stack copy on every search).
//!
//! It accepts a subset of onig's Ruby syntax: alternation, `(?:…)`, `(…)`, `(?!…)`, `(?=…)`,
//! `(?i:…)` over ASCII literals, bracket classes of literals, ranges, `\s`/`\S` and
//! `\p{Xx}`/`\P{Xx}` general categories, and greedy `? * + {m,n}` quantifiers. Anything else
//! makes [`Pattern::parse`] return None and the split runs on onig. Matching follows onig's
//! semantics for that subset: leftmost start, alternatives in order, greedy quantifiers with
//! backtracking. Character properties use `unicode-general-category`, built from the same
//! Unicode version (16.0) as the onig `tokenizers` links; `bpe_differential_unicode_tables`
//! checks every class against onig over all code points.

use unicode_general_category::{get_general_category, GeneralCategory};

/// onig's `\s`: the White_Space property.
const WHITE_SPACE: &[(u32, u32)] = &[
    (0x09, 0x0D),
    (0x20, 0x20),
    (0x85, 0x85),
    (0xA0, 0xA0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
];

/// Bounded repeats of a group are unrolled; beyond this the pattern goes to onig.
const MAX_GROUP_REPEAT: u32 = 8;

#[derive(Debug)]
enum Node {
    /// One character of a class.
    Class(usize),
    /// A greedy repeat of one class.
    Repeat {
        class: usize,
        min: u32,
        max: u32,
    },
    /// Alternatives tried in order (a group; an empty alternative makes it optional).
    Group(Vec<Vec<Node>>),
    NotAhead(Vec<Vec<Node>>),
    Ahead(Vec<Vec<Node>>),
}

/// A set of characters: `negated` XOR (in `ranges` or in a category of `categories` or, with
/// `space`, White_Space); ASCII membership precomputed.
#[derive(Debug, Default, Clone)]
pub(super) struct Class {
    negated: bool,
    ranges: Vec<(u32, u32)>,
    categories: u32,
    space: bool,
    ascii: u128,
}

impl Class {
    fn contains_slow(&self, c: char) -> bool {
        let code = c as u32;
        let inside = self.ranges.iter().any(|&(lo, hi)| lo <= code && code <= hi)
            || self.categories & category_bit(get_general_category(c)) != 0
            || (self.space && WHITE_SPACE.iter().any(|&(lo, hi)| lo <= code && code <= hi));
        inside != self.negated
    }

    fn finish(mut self) -> Class {
        self.ascii = (0u8..128).filter(|&b| self.contains_slow(char::from(b))).fold(0, |m, b| m | (1u128 << b));
        self
    }

    #[inline]
    pub(super) fn contains(&self, c: char) -> bool {
        let code = c as u32;
        if code < 128 {
            self.ascii & (1u128 << code) != 0
        } else {
            self.contains_slow(c)
        }
    }

    fn chars(chars: &[char]) -> Class {
        Class { ranges: chars.iter().map(|&c| (c as u32, c as u32)).collect(), ..Class::default() }.finish()
    }
}

fn category_bit(category: GeneralCategory) -> u32 {
    1 << (category as u32)
}

/// onig's short general-category names and the categories each covers.
fn categories(name: &str) -> Option<u32> {
    use GeneralCategory::*;
    let list: &[GeneralCategory] = match name {
        "L" => &[UppercaseLetter, LowercaseLetter, TitlecaseLetter, ModifierLetter, OtherLetter],
        "Lu" => &[UppercaseLetter],
        "Ll" => &[LowercaseLetter],
        "Lt" => &[TitlecaseLetter],
        "Lm" => &[ModifierLetter],
        "Lo" => &[OtherLetter],
        "M" => &[NonspacingMark, SpacingMark, EnclosingMark],
        "Mn" => &[NonspacingMark],
        "Mc" => &[SpacingMark],
        "Me" => &[EnclosingMark],
        "N" => &[DecimalNumber, LetterNumber, OtherNumber],
        "Nd" => &[DecimalNumber],
        "Nl" => &[LetterNumber],
        "No" => &[OtherNumber],
        "P" => &[
            ConnectorPunctuation,
            DashPunctuation,
            OpenPunctuation,
            ClosePunctuation,
            InitialPunctuation,
            FinalPunctuation,
            OtherPunctuation,
        ],
        "Pc" => &[ConnectorPunctuation],
        "Pd" => &[DashPunctuation],
        "Ps" => &[OpenPunctuation],
        "Pe" => &[ClosePunctuation],
        "Pi" => &[InitialPunctuation],
        "Pf" => &[FinalPunctuation],
        "Po" => &[OtherPunctuation],
        "S" => &[MathSymbol, CurrencySymbol, ModifierSymbol, OtherSymbol],
        "Sm" => &[MathSymbol],
        "Sc" => &[CurrencySymbol],
        "Sk" => &[ModifierSymbol],
        "So" => &[OtherSymbol],
        "Z" => &[SpaceSeparator, LineSeparator, ParagraphSeparator],
        "Zs" => &[SpaceSeparator],
        "Zl" => &[LineSeparator],
        "Zp" => &[ParagraphSeparator],
        _ => return None,
    };
    Some(list.iter().fold(0, |mask, &c| mask | category_bit(c)))
}

/// The general-category names the parser accepts, for the table check against onig.
#[cfg(test)]
pub(super) const CATEGORY_NAMES: &[&str] = &[
    "L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Ps", "Pe", "Pi",
    "Pf", "Po", "S", "Sm", "Sc", "Sk", "So", "Z", "Zs", "Zl", "Zp",
];

/// The class an escape like `\s` or `\p{L}` stands for, for the table check against onig.
#[cfg(test)]
pub(super) fn escape_class(escape: &str) -> Option<Class> {
    fn single(alternatives: &[Vec<Node>]) -> Option<usize> {
        match alternatives {
            [alternative] => match alternative.as_slice() {
                [Node::Class(i)] => Some(*i),
                [Node::Group(inner)] => single(inner),
                _ => None,
            },
            _ => None,
        }
    }
    let pattern = Pattern::parse(escape)?;
    Some(pattern.classes[single(&pattern.top)?].clone())
}

#[derive(Debug)]
pub(super) struct Pattern {
    top: Vec<Vec<Node>>,
    classes: Vec<Class>,
    /// Per top-level alternative, the ASCII characters a match of it can start with (every bit
    /// set when that is not known): `search` skips an alternative that cannot start at an ASCII
    /// character, which is most attempts on text (the contraction alternative on every word).
    first_ascii: Vec<u128>,
}

/// The continuation of a match: the rest of an enclosing sequence, then its own continuation.
struct Frame<'a> {
    seq: &'a [Node],
    next: Option<&'a Frame<'a>>,
}

impl Pattern {
    /// None for syntax outside the supported subset (the caller then uses onig).
    pub(super) fn parse(pattern: &str) -> Option<Pattern> {
        let mut parser = Parser { chars: pattern.chars().collect(), at: 0, classes: Vec::new() };
        let top = parser.alternation(false)?;
        if parser.at != parser.chars.len() {
            return None;
        }
        let first_ascii = top.iter().map(|seq| first_ascii(seq, &parser.classes)).collect();
        Some(Pattern { top, classes: parser.classes, first_ascii })
    }

    /// The leftmost match starting at or after `from`, as onig's `search` finds it.
    pub(super) fn search(&self, text: &str, from: usize) -> Option<(usize, usize)> {
        let bytes = text.as_bytes();
        let mut at = from;
        loop {
            let skip = match bytes.get(at) {
                Some(&byte) if byte < 0x80 => 1u128 << byte,
                _ => 0,
            };
            for (alternative, &first) in self.top.iter().zip(&self.first_ascii) {
                if skip != 0 && skip & first == 0 {
                    continue;
                }
                if let Some(end) = self.match_seq(bytes, alternative, at, None) {
                    return Some((at, end));
                }
            }
            if at >= bytes.len() {
                return None;
            }
            at += utf8_len(bytes[at]);
        }
    }

    fn match_seq(&self, text: &[u8], seq: &[Node], at: usize, next: Option<&Frame>) -> Option<usize> {
        let Some((node, rest)) = seq.split_first() else {
            return match next {
                Some(frame) => self.match_seq(text, frame.seq, at, frame.next),
                None => Some(at),
            };
        };
        match node {
            Node::Class(class) => {
                let (c, len) = decode(text, at)?;
                if self.classes[*class].contains(c) {
                    self.match_seq(text, rest, at + len, next)
                } else {
                    None
                }
            }
            Node::Repeat { class, min, max } => {
                let class = &self.classes[*class];
                let mut end = at;
                let mut count = 0;
                while count < *max {
                    match decode(text, end) {
                        Some((c, len)) if class.contains(c) => {
                            end += len;
                            count += 1;
                        }
                        _ => break,
                    }
                }
                if count < *min {
                    return None;
                }
                loop {
                    if let Some(found) = self.match_seq(text, rest, end, next) {
                        return Some(found);
                    }
                    if count == *min {
                        return None;
                    }
                    end -= 1;
                    while text[end] & 0xC0 == 0x80 {
                        end -= 1;
                    }
                    count -= 1;
                }
            }
            Node::Group(alternatives) => {
                let frame = Frame { seq: rest, next };
                alternatives.iter().find_map(|alternative| self.match_seq(text, alternative, at, Some(&frame)))
            }
            Node::NotAhead(alternatives) => {
                if alternatives.iter().any(|alternative| self.match_seq(text, alternative, at, None).is_some()) {
                    None
                } else {
                    self.match_seq(text, rest, at, next)
                }
            }
            Node::Ahead(alternatives) => {
                if alternatives.iter().any(|alternative| self.match_seq(text, alternative, at, None).is_some()) {
                    self.match_seq(text, rest, at, next)
                } else {
                    None
                }
            }
        }
    }
}

fn utf8_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// The character at byte `at` of valid UTF-8 (an `&str`'s bytes) and its length.
#[inline]
fn decode(text: &[u8], at: usize) -> Option<(char, usize)> {
    let lead = *text.get(at)?;
    if lead < 0x80 {
        return Some((char::from(lead), 1));
    }
    let len = utf8_len(lead);
    let mut code = u32::from(lead) & (0x7F >> len);
    for &byte in text.get(at + 1..at + len)? {
        code = (code << 6) | u32::from(byte & 0x3F);
    }
    Some((char::from_u32(code)?, len))
}

struct Parser {
    chars: Vec<char>,
    at: usize,
    classes: Vec<Class>,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn eat(&mut self, text: &str) -> bool {
        let n = text.chars().count();
        if self.chars.get(self.at..self.at + n).is_some_and(|s| s.iter().copied().eq(text.chars())) {
            self.at += n;
            true
        } else {
            false
        }
    }

    fn add_class(&mut self, class: Class) -> usize {
        self.classes.push(class);
        self.classes.len() - 1
    }

    /// Alternatives up to the end of the pattern or (inside a group) the closing parenthesis.
    fn alternation(&mut self, fold_case: bool) -> Option<Vec<Vec<Node>>> {
        let mut alternatives = vec![self.sequence(fold_case)?];
        while self.eat("|") {
            alternatives.push(self.sequence(fold_case)?);
        }
        Some(alternatives)
    }

    fn sequence(&mut self, fold_case: bool) -> Option<Vec<Node>> {
        let mut seq = Vec::new();
        let mut literal_run = String::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom(fold_case)?;
            let (min, max) = self.quantifier()?;
            match atom {
                Atom::Class(class, literal) => {
                    // Case-insensitive literals must not spell a multi-character case folding
                    // (ß = ss, ﬁ = fi, …): those match across character boundaries.
                    if fold_case {
                        literal_run.push(literal?.to_ascii_lowercase());
                        if ["ss", "ff", "fi", "fl", "st"].iter().any(|fold| literal_run.contains(fold))
                            || (min, max) != (1, 1)
                        {
                            return None;
                        }
                    }
                    let class = self.add_class(class);
                    seq.push(if (min, max) == (1, 1) { Node::Class(class) } else { Node::Repeat { class, min, max } });
                }
                Atom::Group(alternatives) => {
                    literal_run.clear();
                    seq.extend(repeat_group(alternatives, min, max)?);
                }
                Atom::Look(node) => {
                    literal_run.clear();
                    if (min, max) != (1, 1) {
                        return None;
                    }
                    seq.push(node);
                }
            }
        }
        Some(seq)
    }

    fn atom(&mut self, fold_case: bool) -> Option<Atom> {
        let c = self.peek()?;
        match c {
            '(' => {
                self.at += 1;
                let (kind, fold) = if self.eat("?:") {
                    (0, fold_case)
                } else if self.eat("?i:") {
                    (0, true)
                } else if self.eat("?!") {
                    (1, fold_case)
                } else if self.eat("?=") {
                    (2, fold_case)
                } else if self.peek() == Some('?') {
                    return None;
                } else {
                    (0, fold_case)
                };
                let alternatives = self.alternation(fold)?;
                if !self.eat(")") || (fold && kind != 0) {
                    return None;
                }
                Some(match kind {
                    0 => Atom::Group(alternatives),
                    1 => Atom::Look(Node::NotAhead(alternatives)),
                    _ => Atom::Look(Node::Ahead(alternatives)),
                })
            }
            '[' if !fold_case => {
                self.at += 1;
                Some(Atom::Class(self.bracket()?, None))
            }
            '\\' if !fold_case => {
                self.at += 1;
                match self.escape()? {
                    Item::Char(c) => Some(Atom::Class(Class::chars(&[c]), None)),
                    Item::Set(class) => Some(Atom::Class(class.finish(), None)),
                }
            }
            _ if fold_case => {
                // Only ASCII; a letter matches both cases plus the characters that fold to it.
                if !c.is_ascii() || !is_plain_literal(c) {
                    return None;
                }
                self.at += 1;
                let lower = c.to_ascii_lowercase();
                let mut chars = vec![lower, c.to_ascii_uppercase()];
                match lower {
                    'k' => chars.push('\u{212A}'),
                    's' => chars.push('\u{17F}'),
                    _ => {}
                }
                chars.dedup();
                Some(Atom::Class(Class::chars(&chars), Some(lower)))
            }
            _ if is_plain_literal(c) => {
                self.at += 1;
                Some(Atom::Class(Class::chars(&[c]), Some(c)))
            }
            _ => None,
        }
    }

    /// `?`, `*`, `+`, `{n}`, `{n,}`, `{n,m}`, `{,m}` (greedy only), or (1, 1).
    fn quantifier(&mut self) -> Option<(u32, u32)> {
        let bounds = match self.peek() {
            Some('?') => (0, 1),
            Some('*') => (0, u32::MAX),
            Some('+') => (1, u32::MAX),
            Some('{') => {
                let close = self.chars[self.at..].iter().position(|&c| c == '}')? + self.at;
                let inner: String = self.chars[self.at + 1..close].iter().collect();
                let (lo, hi) = match inner.split_once(',') {
                    None => (inner.as_str(), Some(inner.as_str())),
                    Some((lo, "")) => (lo, None),
                    Some((lo, hi)) => (lo, Some(hi)),
                };
                let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
                if !(lo.is_empty() || digits(lo)) || hi.is_some_and(|h| !digits(h)) || (lo.is_empty() && hi.is_none()) {
                    return None;
                }
                let min = if lo.is_empty() { 0 } else { lo.parse().ok()? };
                let max = match hi {
                    Some(h) => h.parse().ok()?,
                    None => u32::MAX,
                };
                if min > max {
                    return None;
                }
                self.at = close;
                (min, max)
            }
            _ => return Some((1, 1)),
        };
        self.at += 1;
        // Lazy and possessive forms are not supported.
        if matches!(self.peek(), Some('?' | '+' | '*' | '{')) {
            return None;
        }
        Some(bounds)
    }

    /// After `\`: a character or a character type.
    fn escape(&mut self) -> Option<Item> {
        let c = self.peek()?;
        self.at += 1;
        Some(match c {
            'r' => Item::Char('\r'),
            'n' => Item::Char('\n'),
            't' => Item::Char('\t'),
            'f' => Item::Char('\u{c}'),
            'v' => Item::Char('\u{b}'),
            'a' => Item::Char('\u{7}'),
            'e' => Item::Char('\u{1b}'),
            's' | 'S' => Item::Set(Class { space: true, negated: c == 'S', ..Class::default() }),
            'p' | 'P' => {
                if !self.eat("{") {
                    return None;
                }
                let close = self.chars[self.at..].iter().position(|&c| c == '}')? + self.at;
                let name: String = self.chars[self.at..close].iter().collect();
                self.at = close + 1;
                Item::Set(Class { categories: categories(&name)?, negated: c == 'P', ..Class::default() })
            }
            _ if c.is_ascii_punctuation() || c == ' ' => Item::Char(c),
            _ => return None,
        })
    }

    /// After `[`: literals, ranges and character types up to `]`.
    fn bracket(&mut self) -> Option<Class> {
        let negated = self.eat("^");
        let mut class = Class { negated, ..Class::default() };
        let mut first = true;
        loop {
            let c = self.peek()?;
            match c {
                ']' if !first => {
                    self.at += 1;
                    return Some(class.finish());
                }
                '[' | ']' => return None,
                '&' if self.chars.get(self.at + 1) == Some(&'&') => return None,
                _ => {}
            }
            first = false;
            let item = if c == '\\' {
                self.at += 1;
                self.escape()?
            } else {
                self.at += 1;
                Item::Char(c)
            };
            match item {
                Item::Set(set) => {
                    if self.peek() == Some('-') && self.chars.get(self.at + 1) != Some(&']') {
                        return None;
                    }
                    if set.negated {
                        // [\S] / [\P{L}] inside a class: not needed by real patterns.
                        return None;
                    }
                    class.categories |= set.categories;
                    class.space |= set.space;
                }
                Item::Char(lo) => {
                    if self.peek() == Some('-') && self.chars.get(self.at + 1).is_some_and(|&c| c != ']') {
                        self.at += 1;
                        let hi = match self.peek()? {
                            '\\' => {
                                self.at += 1;
                                match self.escape()? {
                                    Item::Char(c) => c,
                                    Item::Set(_) => return None,
                                }
                            }
                            '[' => return None,
                            c => {
                                self.at += 1;
                                c
                            }
                        };
                        if hi < lo {
                            return None;
                        }
                        class.ranges.push((lo as u32, hi as u32));
                    } else {
                        class.ranges.push((lo as u32, lo as u32));
                    }
                }
            }
        }
    }
}

enum Atom {
    /// A one-character class, with the literal it came from when it is one.
    Class(Class, Option<char>),
    Group(Vec<Vec<Node>>),
    Look(Node),
}

enum Item {
    Char(char),
    Set(Class),
}

/// Characters that stand for themselves outside a class in onig's Ruby syntax.
fn is_plain_literal(c: char) -> bool {
    !matches!(c, '\\' | '[' | ']' | '(' | ')' | '{' | '}' | '|' | '^' | '$' | '.' | '*' | '+' | '?' | '#')
}

/// `group{min,max}` unrolled: `min` copies, then `max - min` nested optional copies. Groups that
/// can match empty, and unbounded repeats, are left to onig (its empty-loop rules).
fn repeat_group(alternatives: Vec<Vec<Node>>, min: u32, max: u32) -> Option<Vec<Node>> {
    if (min, max) == (1, 1) {
        return Some(vec![Node::Group(alternatives)]);
    }
    if max > MAX_GROUP_REPEAT || alternatives.iter().any(|a| can_be_empty(a)) {
        return None;
    }
    let mut out: Vec<Node> = (0..min).map(|_| Node::Group(clone_alts(&alternatives))).collect();
    let mut optional: Option<Node> = None;
    for _ in min..max {
        let mut body = vec![Node::Group(clone_alts(&alternatives))];
        body.extend(optional.take());
        optional = Some(Node::Group(vec![body, Vec::new()]));
    }
    out.extend(optional);
    Some(out)
}

/// The ASCII characters a match of `seq` can start with; every bit when a lookaround or an
/// empty match makes that unknown (then nothing is skipped).
fn first_ascii(seq: &[Node], classes: &[Class]) -> u128 {
    let mut set = 0;
    for node in seq {
        match node {
            Node::Class(class) => return set | classes[*class].ascii,
            Node::Repeat { class, min, .. } => {
                set |= classes[*class].ascii;
                if *min > 0 {
                    return set;
                }
            }
            Node::Group(alternatives) => {
                if alternatives.iter().any(|a| can_be_empty(a)) {
                    return u128::MAX;
                }
                return set | alternatives.iter().fold(0, |m, a| m | first_ascii(a, classes));
            }
            Node::NotAhead(_) | Node::Ahead(_) => return u128::MAX,
        }
    }
    u128::MAX
}

fn can_be_empty(seq: &[Node]) -> bool {
    seq.iter().all(|node| match node {
        Node::Class(_) => false,
        Node::Repeat { min, .. } => *min == 0,
        Node::Group(alternatives) => alternatives.iter().any(|a| can_be_empty(a)),
        Node::NotAhead(_) | Node::Ahead(_) => true,
    })
}

fn clone_alts(alternatives: &[Vec<Node>]) -> Vec<Vec<Node>> {
    alternatives.iter().map(|seq| seq.iter().map(clone_node).collect()).collect()
}

fn clone_node(node: &Node) -> Node {
    match node {
        Node::Class(c) => Node::Class(*c),
        Node::Repeat { class, min, max } => Node::Repeat { class: *class, min: *min, max: *max },
        Node::Group(a) => Node::Group(clone_alts(a)),
        Node::NotAhead(a) => Node::NotAhead(clone_alts(a)),
        Node::Ahead(a) => Node::Ahead(clone_alts(a)),
    }
}
