//! `{{expression}}`s of random values: `+ - * /  %`, parentheses, names.

use super::*;

/// The value of expression `text`: integers, names of `values`, `+ - * / %`,
/// unary minus and parentheses; an error says what is wrong.
pub(super) fn eval(text: &str, values: &Values) -> Result<i64, String> {
    let mut p = Expr {
        src: text,
        at: 0,
        values,
    };
    let v = p.sum()?;
    if p.peek().is_some() {
        return Err(format!("{{{{{text}}}}}: unexpected \"{}\"", &text[p.at..]));
    }
    Ok(v)
}

/// A recursive-descent reader of one `{{...}}` expression.
pub(super) struct Expr<'a> {
    pub(super) src: &'a str,
    pub(super) at: usize,
    pub(super) values: &'a Values,
}

impl Expr<'_> {
    fn peek(&mut self) -> Option<char> {
        while self.src[self.at..].starts_with(' ') {
            self.at += 1;
        }
        self.src[self.at..].chars().next()
    }

    fn overflow(&self) -> String {
        format!("{{{{{}}}}} overflows", self.src)
    }

    fn sum(&mut self) -> Result<i64, String> {
        let mut v = self.product()?;
        while let Some(op @ ('+' | '-')) = self.peek() {
            self.at += 1;
            let r = self.product()?;
            v = if op == '+' {
                v.checked_add(r)
            } else {
                v.checked_sub(r)
            }
            .ok_or_else(|| self.overflow())?;
        }
        Ok(v)
    }

    fn product(&mut self) -> Result<i64, String> {
        let mut v = self.atom()?;
        while let Some(op @ ('*' | '/' | '%')) = self.peek() {
            self.at += 1;
            let r = self.atom()?;
            if op != '*' && r == 0 {
                return Err(format!("{{{{{}}}}} divides by zero", self.src));
            }
            v = match op {
                '*' => v.checked_mul(r),
                '/' => v.checked_div(r),
                _ => v.checked_rem(r),
            }
            .ok_or_else(|| self.overflow())?;
        }
        Ok(v)
    }

    fn atom(&mut self) -> Result<i64, String> {
        match self.peek() {
            Some('(') => {
                self.at += 1;
                let v = self.sum()?;
                if self.peek() != Some(')') {
                    return Err(format!("{{{{{}}}}}: a \"(\" is not closed", self.src));
                }
                self.at += 1;
                Ok(v)
            }
            Some('-') => {
                self.at += 1;
                self.atom()?.checked_neg().ok_or_else(|| self.overflow())
            }
            Some(c) if c.is_ascii_alphanumeric() || c == '_' => {
                let rest = &self.src[self.at..];
                let len = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                    .unwrap_or(rest.len());
                let word = &rest[..len];
                self.at += len;
                if c.is_ascii_digit() {
                    return word
                        .parse()
                        .map_err(|_| format!("{{{{{}}}}}: bad number \"{word}\"", self.src));
                }
                self.values
                    .get(word)
                    .copied()
                    .ok_or_else(|| format!("{{{{{word}}}}} names no [random] value"))
            }
            _ => Err(format!(
                "{{{{{}}}}}: expected a number, a [random] value or \"(\"",
                self.src
            )),
        }
    }
}
