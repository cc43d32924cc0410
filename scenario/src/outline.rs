//! Where things are in a block-style YAML text: the line and column of a value reached by a path of
//! keys and sequence indexes. serde_yaml gives positions for syntax errors only; semantic errors
//! (an unknown host in step 4) find their place here.
//!
//! This reads indentation, not YAML: it understands block mappings and block sequences (`- ` items,
//! also at the same indentation as their key) and falls back to the nearest enclosing position for
//! flow style (`{a: 1}`, `[x, y]`) and anything else it does not follow.

/// One step of a path: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A 0-based sequence index.
    Index(usize),
}

/// Shorthand for a key segment.
pub fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

/// A position: 1-based line and column.
pub type Position = (usize, usize);

/// The significant lines of a text: (0-based line number, indent, content after the indent).
struct Line<'a> {
    number: usize,
    indent: usize,
    text: &'a str,
}

/// A range of lines holding one value, whose content starts at `column` (0-based) on its first line.
#[derive(Clone, Copy)]
struct Block {
    start: usize,
    end: usize,
    column: usize,
}

/// The lines of a YAML text, ready for lookups.
pub struct Outline<'a> {
    lines: Vec<Line<'a>>,
}

impl<'a> Outline<'a> {
    /// Indexes `text`.
    pub fn new(text: &'a str) -> Self {
        let lines = text
            .lines()
            .enumerate()
            .filter_map(|(number, raw)| {
                let trimmed = raw.trim_start_matches(' ');
                let t = trimmed.trim_end();
                if t.is_empty() || t.starts_with('#') || t == "---" {
                    return None;
                }
                Some(Line {
                    number,
                    indent: raw.len() - trimmed.len(),
                    text: trimmed,
                })
            })
            .collect();
        Outline { lines }
    }

    /// The position of the value at `path`, or of the deepest part of it that could be found.
    pub fn locate(&self, path: &[Seg]) -> Position {
        let mut block = Block {
            start: 0,
            end: self.lines.len(),
            column: self.lines.first().map_or(0, |l| l.indent),
        };
        let mut best = self.position(block);
        for seg in path {
            let next = match seg {
                Seg::Key(k) => self.find_key(block, k),
                Seg::Index(i) => self.find_item(block, *i),
            };
            match next {
                Some(b) => {
                    block = b;
                    best = self.position(b);
                }
                None => break,
            }
        }
        best
    }

    fn position(&self, b: Block) -> Position {
        self.lines
            .get(b.start)
            .map_or((1, 1), |l| (l.number + 1, b.column + 1))
    }

    /// The text of the block's first line from its content column.
    fn head(&self, b: Block) -> Option<&'a str> {
        let l = self.lines.get(b.start)?;
        l.text.get(b.column.checked_sub(l.indent)?..)
    }

    fn find_key(&self, b: Block, k: &str) -> Option<Block> {
        let needle = format!("{k}:");
        let matches_key = |t: &str| {
            t.strip_prefix(&needle)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
                || t.strip_prefix(&format!("\"{k}\":")).is_some()
        };
        // The first line may hold the key after a `- ` (an item's first key).
        let head = self.head(b)?;
        let mut hit = if matches_key(head) {
            Some((b.start, b.column))
        } else {
            None
        };
        if hit.is_none() {
            hit = (b.start + 1..b.end)
                .find(|&i| self.lines[i].indent == b.column && matches_key(self.lines[i].text))
                .map(|i| (i, b.column));
        }
        let Some((at, column)) = hit else {
            // Flow style on the first line: point at the key inside it.
            return head.find(&needle).map(|off| Block {
                start: b.start,
                end: b.start + 1,
                column: b.column + off,
            });
        };
        let line = &self.lines[at];
        let after = line
            .text
            .get(column - line.indent + needle.len()..)
            .unwrap_or("")
            .trim_start();
        if !after.is_empty() && !after.starts_with('#') && !after.starts_with(['|', '>']) {
            // Inline value: it sits on this line, after the key.
            let offset = line.text.len() - after.len();
            return Some(Block {
                start: at,
                end: at + 1,
                column: line.indent + offset,
            });
        }
        let end = (at + 1..b.end)
            .find(|&i| {
                let l = &self.lines[i];
                l.indent < column || (l.indent == column && !l.text.starts_with('-'))
            })
            .unwrap_or(b.end);
        if end == at + 1 {
            return Some(Block {
                start: at,
                end,
                column,
            });
        }
        let child = &self.lines[at + 1];
        Some(Block {
            start: at + 1,
            end,
            column: child.indent,
        })
    }

    fn find_item(&self, b: Block, index: usize) -> Option<Block> {
        let first = self.lines.get(b.start)?;
        let head = self.head(b)?;
        if !head.starts_with('-') {
            return None;
        }
        let item_indent = if b.column > first.indent {
            b.column
        } else {
            first.indent
        };
        let starts: Vec<usize> = (b.start..b.end)
            .filter(|&i| {
                let l = &self.lines[i];
                (i == b.start || l.indent == item_indent) && l.text.starts_with('-')
            })
            .collect();
        let at = *starts.get(index)?;
        let end = starts.get(index + 1).copied().unwrap_or(b.end);
        let line = &self.lines[at];
        let dash_col = if at == b.start { b.column } else { line.indent };
        // Content after "- " (possibly several dashes for nested sequences: take the first).
        let rest = line.text.get(dash_col - line.indent + 1..).unwrap_or("");
        let spaces = rest.len() - rest.trim_start().len();
        Some(Block {
            start: at,
            end,
            column: dash_col + 1 + spaces,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
name: x
# a comment
fleet:
  groups:
    - name: a
      count: 2
timeline:
- register: {hosts: all}
- advance: 30s

- wait:
    until: {hosts: [a-0], state: available}
    within: 10m
expect:
  hosts:
    - hosts: all
      final: available
";

    fn at(path: &[Seg]) -> Position {
        Outline::new(TEXT).locate(path)
    }

    #[test]
    fn top_level_keys_are_found_at_column_one() {
        assert_eq!(at(&[key("timeline")]), (8, 1));
        assert_eq!(at(&[key("name")]), (1, 7));
    }

    #[test]
    fn sequence_items_at_the_keys_indentation_are_found() {
        assert_eq!(at(&[key("timeline"), Seg::Index(0)]), (8, 3));
        assert_eq!(at(&[key("timeline"), Seg::Index(2)]), (11, 3));
        assert_eq!(
            at(&[key("timeline"), Seg::Index(2), key("wait"), key("within")]),
            (13, 13)
        );
    }

    #[test]
    fn nested_items_and_their_keys_are_found() {
        assert_eq!(
            at(&[key("expect"), key("hosts"), Seg::Index(0), key("final")]),
            (17, 14)
        );
        assert_eq!(
            at(&[key("fleet"), key("groups"), Seg::Index(0), key("count")]),
            (6, 14)
        );
    }

    #[test]
    fn a_missing_part_falls_back_to_the_nearest_enclosing_position() {
        assert_eq!(at(&[key("timeline"), Seg::Index(9)]), (8, 1));
        assert_eq!(at(&[key("nope")]), (1, 1));
    }

    #[test]
    fn keys_inside_flow_mappings_are_pointed_at() {
        assert_eq!(
            at(&[
                key("timeline"),
                Seg::Index(0),
                key("register"),
                key("hosts")
            ]),
            (8, 14)
        );
    }
}
