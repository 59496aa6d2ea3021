//! A terminal screen as HTML: `tmux capture-pane -e` output (text with SGR escape
//! sequences) turned into one `<pre>` of coloured spans, so headless Chromium can
//! take a picture of what a person sees in their terminal.

use std::fmt::Write as _;

/// The 16 terminal colours, as a dark theme draws them.
const PALETTE: [&str; 16] = [
    "#1e1e1e", "#e05561", "#8cc265", "#d18f52", "#4aa5f0", "#c162de", "#42b3c2", "#d7dae0",
    "#5c6370", "#ff616e", "#a5e075", "#f0a45d", "#4dc4ff", "#de73ff", "#4cd1e0", "#ffffff",
];
const FOREGROUND: &str = "#d7dae0";
const BACKGROUND: &str = "#16181d";

/// The text attributes in force.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Pen {
    fg: Option<String>,
    bg: Option<String>,
    bold: bool,
    dim: bool,
    underline: bool,
    reverse: bool,
}

impl Pen {
    /// Applies one SGR sequence's parameters.
    fn apply(&mut self, params: &str) {
        let codes: Vec<u16> = if params.is_empty() {
            vec![0]
        } else {
            params.split(';').map(|p| p.parse().unwrap_or(0)).collect()
        };
        let mut i = 0;
        while i < codes.len() {
            match codes[i] {
                0 => *self = Self::default(),
                1 => self.bold = true,
                2 => self.dim = true,
                4 => self.underline = true,
                7 => self.reverse = true,
                22 => (self.bold, self.dim) = (false, false),
                24 => self.underline = false,
                27 => self.reverse = false,
                c @ 30..=37 => self.fg = Some(PALETTE[usize::from(c - 30)].into()),
                c @ 90..=97 => self.fg = Some(PALETTE[usize::from(c - 90 + 8)].into()),
                c @ 40..=47 => self.bg = Some(PALETTE[usize::from(c - 40)].into()),
                c @ 100..=107 => self.bg = Some(PALETTE[usize::from(c - 100 + 8)].into()),
                39 => self.fg = None,
                49 => self.bg = None,
                c @ (38 | 48) => {
                    let colour = match codes.get(i + 1) {
                        Some(5) => {
                            i += 2;
                            codes.get(i).map(|&n| indexed(n))
                        }
                        Some(2) => {
                            i += 4;
                            match codes.get(i - 2..=i) {
                                Some([r, g, b]) => Some(format!("#{r:02x}{g:02x}{b:02x}")),
                                _ => None,
                            }
                        }
                        _ => None,
                    };
                    if c == 38 {
                        self.fg = colour;
                    } else {
                        self.bg = colour;
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }

    fn style(&self) -> String {
        let (mut fg, mut bg) = (
            self.fg.clone().unwrap_or_else(|| FOREGROUND.into()),
            self.bg.clone().unwrap_or_else(|| BACKGROUND.into()),
        );
        if self.reverse {
            std::mem::swap(&mut fg, &mut bg);
        }
        let mut style = format!("color:{fg};background:{bg}");
        if self.bold {
            style.push_str(";font-weight:bold");
        }
        if self.dim {
            style.push_str(";opacity:.7");
        }
        if self.underline {
            style.push_str(";text-decoration:underline");
        }
        style
    }
}

/// xterm's 256 colours.
fn indexed(n: u16) -> String {
    match n {
        0..=15 => PALETTE[usize::from(n)].into(),
        16..=231 => {
            let n = n - 16;
            let level = |v: u16| if v == 0 { 0 } else { 55 + v * 40 };
            format!(
                "#{:02x}{:02x}{:02x}",
                level(n / 36),
                level(n / 6 % 6),
                level(n % 6)
            )
        }
        _ => {
            let v = 8 + (n.min(255) - 232) * 10;
            format!("#{v:02x}{v:02x}{v:02x}")
        }
    }
}

fn escape(c: char, out: &mut String) {
    match c {
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '&' => out.push_str("&amp;"),
        c => out.push(c),
    }
}

/// The page for `ansi`, `cols` columns wide.
pub fn to_html(ansi: &str, cols: usize) -> String {
    let mut body = String::new();
    let mut pen = Pen::default();
    let mut run = String::new();
    let flush = |pen: &Pen, run: &mut String, body: &mut String| {
        if !run.is_empty() {
            let _ = write!(body, "<span style=\"{}\">{run}</span>", pen.style());
            run.clear();
        }
    };
    let mut chars = ansi.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                let mut params = String::new();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        last = c;
                        break;
                    }
                    params.push(c);
                }
                if last == 'm' {
                    flush(&pen, &mut run, &mut body);
                    pen.apply(&params);
                }
            }
            continue;
        }
        if c == '\n' {
            flush(&pen, &mut run, &mut body);
            body.push('\n');
            continue;
        }
        escape(c, &mut run);
    }
    flush(&pen, &mut run, &mut body);
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><style>\
         html,body{{margin:0;background:{BACKGROUND}}}\
         pre{{margin:0;padding:12px 14px;font:15px/1.35 'DejaVu Sans Mono',monospace;\
         color:{FOREGROUND};width:{cols}ch}}</style></head><body><pre>{body}</pre></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_and_attributes_become_styles() {
        let html = to_html(
            "a\u{1b}[1;37;44mB<\u{1b}[0m c\u{1b}[38;5;196md\u{1b}[39m",
            80,
        );
        assert!(html.contains("<span style=\"color:#d7dae0;background:#16181d\">a</span>"));
        assert!(html.contains(
            "<span style=\"color:#d7dae0;background:#4aa5f0;font-weight:bold\">B&lt;</span>"
        ));
        assert!(html.contains("<span style=\"color:#ff0000;background:#16181d\">d</span>"));
        assert!(html.contains("width:80ch"));
    }
}
