//! Aligned tables that fit a terminal: each column says how it gives way (left out,
//! or cut with "…") and in which order, so `list`, `status` and `requests` stay on
//! one line a row at 80 columns while pipes get every value whole.

use std::io::IsTerminal as _;

/// Spaces between two columns.
const GAP: usize = 2;

/// How one column of a table gives way on a narrow terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The header.
    pub header: &'static str,
    /// When the table does not fit, this column is left out at this step (steps go
    /// lowest first); `None`: never.
    pub drop_rank: Option<u8>,
    /// When the table does not fit, this column is cut (ending in "…") down to
    /// `.0` characters at step `.1`; `None`: never.
    pub cut: Option<(usize, u8)>,
}

impl Column {
    /// A column always shown whole.
    pub const fn fixed(header: &'static str) -> Self {
        Self {
            header,
            drop_rank: None,
            cut: None,
        }
    }

    /// A column left out at step `rank` when the table does not fit.
    pub const fn droppable(header: &'static str, rank: u8) -> Self {
        Self {
            header,
            drop_rank: Some(rank),
            cut: None,
        }
    }

    /// This column, cut down to `min` characters at step `rank`.
    pub const fn cut_to(mut self, min: usize, rank: u8) -> Self {
        self.cut = Some((min, rank));
        self
    }
}

/// Renders `rows` under `columns`' headers, aligned, fitted to `width` characters a
/// line when given: the columns give way one step at a time, in the order of their
/// ranks (left out, or cut down to their minimum), until the table fits; then room
/// left goes back to cut columns. Narrower than what cannot give, lines are as short
/// as they can be. Without `width`, every value is shown whole.
pub fn table(columns: &[Column], rows: &[Vec<String>], width: Option<usize>) -> String {
    let natural: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |v| v.chars().count()))
                .max()
                .unwrap_or(0)
                .max(c.header.len())
        })
        .collect();
    let mut shown = vec![true; columns.len()];
    let mut widths = natural.clone();
    let line = |shown: &[bool], widths: &[usize]| {
        let n = shown.iter().filter(|s| **s).count();
        (0..widths.len())
            .filter(|&i| shown[i])
            .map(|i| widths[i])
            .sum::<usize>()
            + GAP * n.saturating_sub(1)
    };
    if let Some(limit) = width.filter(|&w| line(&shown, &natural) > w) {
        // Every way to give, in order: (rank, column, cut to).
        let mut steps: Vec<(u8, usize, Option<usize>)> = Vec::new();
        for (i, c) in columns.iter().enumerate() {
            if let Some(rank) = c.drop_rank {
                steps.push((rank, i, None));
            }
            if let Some((min, rank)) = c.cut {
                steps.push((rank, i, Some(min)));
            }
        }
        steps.sort_unstable();
        for (_, i, cut) in steps {
            if line(&shown, &widths) <= limit {
                break;
            }
            match cut {
                Some(min) => widths[i] = widths[i].min(min.max(1)),
                None => shown[i] = false,
            }
        }
        let mut room = limit.saturating_sub(line(&shown, &widths));
        for i in 0..columns.len() {
            if shown[i] {
                let more = (natural[i] - widths[i]).min(room);
                widths[i] += more;
                room -= more;
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = columns.iter().map(|c| c.header.to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = (0..columns.len())
            .filter(|&i| shown[i])
            .map(|i| {
                let cell = fit(row.get(i).map_or("", String::as_str), widths[i]);
                format!("{cell:<w$}", w = widths[i])
            })
            .collect();
        out.push_str(cells.join(&" ".repeat(GAP)).trim_end());
        out.push('\n');
    }
    out
}

/// `text` in at most `width` characters: whole, or cut with "…" as its last.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    if width > 0 {
        cut.push('…');
    }
    cut
}

/// The width of the terminal stdout is, or `None` when it is not one (a pipe or a
/// file gets whole values, for grep and scripts).
pub fn terminal_width() -> Option<usize> {
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    terminal_size::terminal_size_of(&stdout).map(|(w, _)| usize::from(w.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_cuts_only_what_is_too_long() {
        assert_eq!(fit("abcdef", 6), "abcdef");
        assert_eq!(fit("abcdefg", 6), "abcde…");
        assert_eq!(fit("abc", 1), "…");
        assert_eq!(fit("abc", 0), "");
    }

    #[test]
    fn without_a_width_or_room_to_spare_nothing_gives() {
        let columns = [Column::droppable("A", 0), Column::fixed("B").cut_to(2, 1)];
        let rows = vec![vec!["aaaa".to_owned(), "bbbbbb".to_owned()]];
        let whole = "A     B\naaaa  bbbbbb\n";
        assert_eq!(table(&columns, &rows, None), whole);
        assert_eq!(table(&columns, &rows, Some(12)), whole);
        // One short: A goes first (rank 0), B then has all the room.
        assert_eq!(table(&columns, &rows, Some(11)), "B\nbbbbbb\n");
        // Then B is cut, never below 2.
        assert_eq!(table(&columns, &rows, Some(4)), "B\nbbb…\n");
        assert_eq!(table(&columns, &rows, Some(1)), "B\nb…\n");
    }
}
