//! The Go `text/template` subset that `line_format` and `label_format` use:
//! text and `{{ }}` actions with `{{-`/`-}}` trimming and comments,
//! pipelines (`{{ .msg | ToUpper }}`), parenthesised calls, literals,
//! `{{ if }}`/`{{ else if }}`/`{{ else }}`/`{{ end }}` and `{{ with }}`.
//! The data is the label map; a missing label renders as `""`
//! (`missingkey=zero`). Functions live in [`super::template_functions`].
//! Errors are worded like Go's (`template: line:1: function "x" not defined`).

use super::go_format::{format_value, TemplateValue};
use super::template_functions::{call_function, function_exists};

/// What a template reads: labels, the current line and timestamp.
pub(crate) trait TemplateData {
    fn label(&self, name: &str) -> Option<&str>;
    fn all_labels(&self) -> Vec<(String, String)>;
}

pub(crate) struct TemplateInput<'a> {
    pub data: &'a dyn TemplateData,
    pub line: &'a str,
    pub timestamp_nanos: i64,
}

#[derive(Clone, Debug, PartialEq)]
enum Operand {
    /// `.a` (or a chain `.a.b`, which fails on string values).
    Field(Vec<String>),
    Dot,
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    Function(String),
    Pipeline(Box<Pipeline>),
}

#[derive(Clone, Debug, PartialEq)]
struct Command {
    operands: Vec<Operand>,
}

#[derive(Clone, Debug, PartialEq)]
struct Pipeline {
    commands: Vec<Command>,
    /// Source text, for error messages.
    text: String,
    line: usize,
    column: usize,
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Text(String),
    Print(Pipeline),
    If {
        branches: Vec<(Pipeline, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    With {
        pipeline: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

/// A compiled template.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Template {
    /// `line` for line_format, `label` for label_format (Go's template name).
    name: String,
    nodes: Vec<Node>,
}

#[derive(Clone, Debug, PartialEq)]
enum ActionToken {
    Field(Vec<String>),
    Dot,
    Identifier(String),
    Str(String),
    Int(i64),
    Float(f64),
    Pipe,
    LeftParen,
    RightParen,
    Variable(String),
}

/// A `{{ }}` action or a text run, before structure is built.
#[derive(Debug)]
enum Item {
    Text(String),
    Action {
        tokens: Vec<ActionToken>,
        text: String,
        line: usize,
        column: usize,
    },
}

const MAX_NESTING: usize = 100;

impl Template {
    /// Parses `source`; `name` is `line` or `label`, as in Loki's error messages.
    pub(crate) fn parse(name: &str, source: &str) -> Result<Template, String> {
        let error = |line: usize, message: String| format!("template: {name}:{line}: {message}");
        let items = split_items(source).map_err(|(line, message)| error(line, message))?;
        let mut parser = NodeParser {
            items,
            index: 0,
            depth: 0,
        };
        let (nodes, end) = parser
            .parse_list()
            .map_err(|(line, message)| error(line, message))?;
        if let Some((keyword, line)) = end {
            return Err(error(line, format!("unexpected {{{{{keyword}}}}}")));
        }
        Ok(Template {
            name: name.to_owned(),
            nodes,
        })
    }

    /// Renders the template.
    pub(crate) fn execute(&self, input: &TemplateInput<'_>) -> Result<String, String> {
        let mut out = String::new();
        let executor = Executor {
            input,
            name: &self.name,
        };
        executor.run(
            &self.nodes,
            &TemplateValue::Labels(Vec::new()),
            &mut out,
            true,
        )?;
        Ok(out)
    }
}

/// Splits the source into text and action items, applying trim markers.
fn split_items(source: &str) -> Result<Vec<Item>, (usize, String)> {
    let chars: Vec<char> = source.chars().collect();
    let mut items = Vec::new();
    let mut index = 0;
    let mut line = 1;
    let mut text = String::new();
    let mut trim_next_text = false;
    while index < chars.len() {
        if chars[index] == '{' && chars.get(index + 1) == Some(&'{') {
            let action_line = line;
            let action_column = index + 1;
            let mut start = index + 2;
            let trim_left = chars.get(start) == Some(&'-')
                && chars
                    .get(start + 1)
                    .is_some_and(|c| c.is_ascii_whitespace());
            if trim_left {
                start += 2;
                text = text.trim_end().to_owned();
            }
            if !text.is_empty() {
                items.push(Item::Text(std::mem::take(&mut text)));
            }
            text.clear();
            let (tokens, end, trim_right, body) = lex_action(&chars, start, line)?;
            line += chars[index..end].iter().filter(|c| **c == '\n').count();
            index = end;
            if let Some(tokens) = tokens {
                items.push(Item::Action {
                    tokens,
                    text: body,
                    line: action_line,
                    column: action_column,
                });
            }
            trim_next_text = trim_right;
            continue;
        }
        if trim_next_text {
            if chars[index].is_ascii_whitespace() {
                if chars[index] == '\n' {
                    line += 1;
                }
                index += 1;
                continue;
            }
            trim_next_text = false;
        }
        if chars[index] == '\n' {
            line += 1;
        }
        text.push(chars[index]);
        index += 1;
    }
    if !text.is_empty() {
        items.push(Item::Text(text));
    }
    Ok(items)
}

type LexedAction = (Option<Vec<ActionToken>>, usize, bool, String);

/// Lexes one action from `start` (just after `{{` and any trim marker).
/// Returns its tokens (`None` for a comment), the index after `}}`, whether
/// it ends with `-}}`, and its source text.
fn lex_action(chars: &[char], start: usize, line: usize) -> Result<LexedAction, (usize, String)> {
    let unclosed = || (line, "unclosed action".to_owned());
    let mut index = start;
    let at = |index: usize, text: &str| {
        text.chars()
            .enumerate()
            .all(|(offset, c)| chars.get(index + offset) == Some(&c))
    };
    // Comments: {{/* ... */}} (possibly with trim markers).
    let mut probe = index;
    while chars.get(probe).is_some_and(|c| c.is_ascii_whitespace()) {
        probe += 1;
    }
    if at(probe, "/*") {
        let mut end = probe + 2;
        while end < chars.len() && !at(end, "*/") {
            end += 1;
        }
        if end >= chars.len() {
            return Err((line, "unclosed comment".to_owned()));
        }
        end += 2;
        while chars.get(end).is_some_and(|c| c.is_ascii_whitespace()) {
            end += 1;
        }
        let trim_right = at(end, "-}}");
        if trim_right {
            end += 1;
        }
        if !at(end, "}}") {
            return Err((line, "comment ends before closing delimiter".to_owned()));
        }
        return Ok((None, end + 2, trim_right, String::new()));
    }
    let mut tokens = Vec::new();
    loop {
        while chars.get(index).is_some_and(|c| c.is_ascii_whitespace()) {
            index += 1;
        }
        let Some(&c) = chars.get(index) else {
            return Err(unclosed());
        };
        let preceded_by_space = index > start && chars[index - 1].is_ascii_whitespace();
        if c == '-' && preceded_by_space && at(index, "-}}") {
            let body: String = chars[start..index].iter().collect();
            return Ok((Some(tokens), index + 3, true, body.trim().to_owned()));
        }
        if at(index, "}}") {
            let body: String = chars[start..index].iter().collect();
            return Ok((Some(tokens), index + 2, false, body.trim().to_owned()));
        }
        let identifier_char = |c: char| c.is_alphanumeric() || c == '_';
        match c {
            '|' => {
                tokens.push(ActionToken::Pipe);
                index += 1;
            }
            '(' => {
                tokens.push(ActionToken::LeftParen);
                index += 1;
            }
            ')' => {
                tokens.push(ActionToken::RightParen);
                index += 1;
            }
            '"' => {
                let (value, end) = lex_quoted(chars, index)
                    .ok_or_else(|| (line, "unterminated quoted string".to_owned()))?;
                tokens.push(ActionToken::Str(value));
                index = end;
            }
            '`' => {
                let end = (index + 1..chars.len())
                    .find(|i| chars[*i] == '`')
                    .ok_or_else(|| (line, "unterminated raw quoted string".to_owned()))?;
                tokens.push(ActionToken::Str(chars[index + 1..end].iter().collect()));
                index = end + 1;
            }
            '\'' => {
                let end = (index + 1..chars.len())
                    .find(|i| chars[*i] == '\'')
                    .ok_or_else(|| (line, "unterminated character constant".to_owned()))?;
                let inner: Vec<char> = chars[index + 1..end].to_vec();
                let [single] = inner.as_slice() else {
                    return Err((line, "malformed character constant".to_owned()));
                };
                tokens.push(ActionToken::Int(i64::from(u32::from(*single))));
                index = end + 1;
            }
            '.' if chars
                .get(index + 1)
                .is_some_and(|c| identifier_char(*c) && !c.is_ascii_digit()) =>
            {
                let mut path = Vec::new();
                while chars.get(index) == Some(&'.')
                    && chars.get(index + 1).is_some_and(|c| identifier_char(*c))
                {
                    index += 1;
                    let field_start = index;
                    while chars.get(index).is_some_and(|c| identifier_char(*c)) {
                        index += 1;
                    }
                    path.push(chars[field_start..index].iter().collect());
                }
                tokens.push(ActionToken::Field(path));
            }
            '.' if !chars.get(index + 1).is_some_and(char::is_ascii_digit) => {
                tokens.push(ActionToken::Dot);
                index += 1;
            }
            '$' => {
                let name_start = index;
                index += 1;
                while chars.get(index).is_some_and(|c| identifier_char(*c)) {
                    index += 1;
                }
                tokens.push(ActionToken::Variable(
                    chars[name_start..index].iter().collect(),
                ));
            }
            c if c.is_ascii_digit()
                || c == '.'
                || ((c == '-' || c == '+')
                    && chars
                        .get(index + 1)
                        .is_some_and(|n| n.is_ascii_digit() || *n == '.')) =>
            {
                let number_start = index;
                index += 1;
                while chars
                    .get(index)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_'))
                    || (matches!(chars.get(index), Some('+' | '-'))
                        && matches!(chars.get(index - 1), Some('e' | 'E')))
                {
                    index += 1;
                }
                let text: String = chars[number_start..index].iter().collect();
                tokens.push(
                    lex_number(&text)
                        .ok_or_else(|| (line, format!("bad number syntax: {text:?}")))?,
                );
            }
            c if identifier_char(c) => {
                let word_start = index;
                while chars.get(index).is_some_and(|c| identifier_char(*c)) {
                    index += 1;
                }
                tokens.push(ActionToken::Identifier(
                    chars[word_start..index].iter().collect(),
                ));
            }
            ':' if chars.get(index + 1) == Some(&'=') => {
                return Err((line, "variable declarations are not supported".to_owned()));
            }
            other => {
                return Err((
                    line,
                    format!("unexpected {:?} in command", other.to_string()),
                ));
            }
        }
    }
}

fn lex_number(text: &str) -> Option<ActionToken> {
    let cleaned = text.replace('_', "");
    let (negative, digits) = match cleaned.strip_prefix('-') {
        Some(rest) => (true, rest.to_owned()),
        None => (
            false,
            cleaned.strip_prefix('+').unwrap_or(&cleaned).to_owned(),
        ),
    };
    let sign = if negative { -1 } else { 1 };
    if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        return i64::from_str_radix(hex, 16)
            .ok()
            .map(|v| ActionToken::Int(sign * v));
    }
    if let Ok(value) = digits.parse::<i64>() {
        return Some(ActionToken::Int(sign * value));
    }
    let value: f64 = digits.parse().ok()?;
    Some(ActionToken::Float(sign as f64 * value))
}

/// A Go interpreted string starting at `chars[start] == '"'`.
fn lex_quoted(chars: &[char], start: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut index = start + 1;
    loop {
        let c = *chars.get(index)?;
        index += 1;
        match c {
            '"' => return Some((out, index)),
            '\n' => return None,
            '\\' => {
                let escape = *chars.get(index)?;
                index += 1;
                match escape {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    'x' | 'u' | 'U' => {
                        let digits = match escape {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = chars.get(index..index + digits)?.iter().collect();
                        index += digits;
                        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    _ => return None,
                }
            }
            c => out.push(c),
        }
    }
}

struct NodeParser {
    items: Vec<Item>,
    index: usize,
    depth: usize,
}

/// How a list ended: `None` at end of input, or the control keyword
/// (`end`, `else`, `else if`) and its line.
type ListEnd = Option<(String, usize)>;

impl NodeParser {
    /// Parses nodes until end of input or a control keyword that closes a block.
    fn parse_list(&mut self) -> Result<(Vec<Node>, ListEnd), (usize, String)> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err((1, "template nests too deeply".to_owned()));
        }
        let mut nodes = Vec::new();
        while self.index < self.items.len() {
            let index = self.index;
            self.index += 1;
            match &self.items[index] {
                Item::Text(text) => nodes.push(Node::Text(text.clone())),
                Item::Action {
                    tokens,
                    text,
                    line,
                    column,
                } => {
                    let (tokens, text, line, column) =
                        (tokens.clone(), text.clone(), *line, *column);
                    match tokens.first() {
                        Some(ActionToken::Identifier(word)) if word == "end" => {
                            self.depth -= 1;
                            return Ok((nodes, Some(("end".to_owned(), line))));
                        }
                        Some(ActionToken::Identifier(word)) if word == "else" => {
                            // Leave the action for the caller to inspect.
                            self.index = index;
                            self.depth -= 1;
                            return Ok((nodes, Some(("else".to_owned(), line))));
                        }
                        Some(ActionToken::Identifier(word)) if word == "if" || word == "with" => {
                            let keyword = word.clone();
                            let pipeline = parse_action_pipeline(&tokens[1..], &text, line, column)
                                .map_err(|m| (line, m.replace("command", &keyword)))?;
                            nodes.push(self.parse_block(&keyword, pipeline, line)?);
                        }
                        Some(ActionToken::Identifier(word))
                            if matches!(
                                word.as_str(),
                                "range" | "define" | "template" | "block" | "break" | "continue"
                            ) =>
                        {
                            return Err((line, format!("{{{{{word}}}}} is not supported")));
                        }
                        _ => {
                            let pipeline = parse_action_pipeline(&tokens, &text, line, column)
                                .map_err(|m| (line, m))?;
                            nodes.push(Node::Print(pipeline));
                        }
                    }
                }
            }
        }
        self.depth -= 1;
        Ok((nodes, None))
    }

    /// The body of an `if`/`with` whose opening action was just consumed.
    fn parse_block(
        &mut self,
        keyword: &str,
        pipeline: Pipeline,
        line: usize,
    ) -> Result<Node, (usize, String)> {
        let mut branches = vec![(pipeline, Vec::new())];
        let mut otherwise = Vec::new();
        let mut in_else = false;
        loop {
            let (nodes, end) = self.parse_list()?;
            if in_else {
                otherwise = nodes;
            } else if let Some(branch) = branches.last_mut() {
                branch.1 = nodes;
            }
            match end {
                None => return Err((line, "unexpected EOF".to_owned())),
                Some((word, _)) if word == "end" => break,
                Some((_, else_line)) => {
                    if in_else {
                        return Err((else_line, "expected end; found {{else}}".to_owned()));
                    }
                    let Some(Item::Action {
                        tokens,
                        text,
                        line,
                        column,
                    }) = self.items.get(self.index)
                    else {
                        return Err((else_line, "unexpected EOF".to_owned()));
                    };
                    let (tokens, text, action_line, column) =
                        (tokens.clone(), text.clone(), *line, *column);
                    self.index += 1;
                    let rest = &tokens[1..];
                    let is_chain =
                        matches!(rest.first(), Some(ActionToken::Identifier(w)) if w == keyword);
                    if is_chain && keyword == "if" {
                        let condition =
                            parse_action_pipeline(&rest[1..], &text, action_line, column)
                                .map_err(|m| (action_line, m.replace("command", "if")))?;
                        branches.push((condition, Vec::new()));
                    } else if rest.is_empty() {
                        in_else = true;
                    } else {
                        return Err((action_line, "unexpected tokens after {{else}}".to_owned()));
                    }
                }
            }
        }
        if keyword == "with" {
            let (pipeline, body) = branches.remove(0);
            return Ok(Node::With {
                pipeline,
                body,
                otherwise,
            });
        }
        Ok(Node::If {
            branches,
            otherwise,
        })
    }
}

fn parse_action_pipeline(
    tokens: &[ActionToken],
    text: &str,
    line: usize,
    column: usize,
) -> Result<Pipeline, String> {
    let mut index = 0;
    let pipeline = parse_pipeline(tokens, &mut index, text, line, column, 0)?;
    if index < tokens.len() {
        return Err(format!(
            "unexpected {} in command",
            describe(&tokens[index])
        ));
    }
    Ok(pipeline)
}

fn describe(token: &ActionToken) -> String {
    match token {
        ActionToken::RightParen => "\")\"".to_owned(),
        ActionToken::LeftParen => "\"(\"".to_owned(),
        ActionToken::Pipe => "\"|\"".to_owned(),
        other => format!("{other:?}"),
    }
}

fn parse_pipeline(
    tokens: &[ActionToken],
    index: &mut usize,
    text: &str,
    line: usize,
    column: usize,
    depth: usize,
) -> Result<Pipeline, String> {
    if depth > MAX_NESTING {
        return Err("pipeline nests too deeply".to_owned());
    }
    let mut commands = Vec::new();
    loop {
        let mut operands = Vec::new();
        while let Some(token) = tokens.get(*index) {
            let operand = match token {
                ActionToken::Pipe | ActionToken::RightParen => break,
                ActionToken::Field(path) => Operand::Field(path.clone()),
                ActionToken::Dot => Operand::Dot,
                ActionToken::Str(s) => Operand::Str(s.clone()),
                ActionToken::Int(i) => Operand::Int(*i),
                ActionToken::Float(f) => Operand::Float(*f),
                ActionToken::Variable(name) => return Err(format!("undefined variable {name:?}")),
                ActionToken::Identifier(word) => match word.as_str() {
                    "true" => Operand::Bool(true),
                    "false" => Operand::Bool(false),
                    "nil" => Operand::Nil,
                    "if" | "else" | "end" | "with" | "range" => {
                        return Err(format!("unexpected <{word}> in command"))
                    }
                    name if function_exists(name) => Operand::Function(name.to_owned()),
                    name => return Err(format!("function {name:?} not defined")),
                },
                ActionToken::LeftParen => {
                    *index += 1;
                    let inner = parse_pipeline(tokens, index, text, line, column, depth + 1)?;
                    if tokens.get(*index) != Some(&ActionToken::RightParen) {
                        return Err("unclosed left paren".to_owned());
                    }
                    Operand::Pipeline(Box::new(inner))
                }
            };
            operands.push(operand);
            *index += 1;
        }
        if operands.is_empty() {
            return Err("missing value for command".to_owned());
        }
        commands.push(Command { operands });
        if tokens.get(*index) == Some(&ActionToken::Pipe) {
            *index += 1;
            continue;
        }
        if depth == 0 && tokens.get(*index) == Some(&ActionToken::RightParen) {
            return Err("unexpected right paren \")\"".to_owned());
        }
        return Ok(Pipeline {
            commands,
            text: text.to_owned(),
            line,
            column,
        });
    }
}

struct Executor<'a, 'b> {
    input: &'a TemplateInput<'b>,
    name: &'a str,
}

impl Executor<'_, '_> {
    fn error(&self, pipeline: &Pipeline, message: &str) -> String {
        format!(
            "template: {}:{}:{}: executing \"{}\" at <{}>: {}",
            self.name, pipeline.line, pipeline.column, self.name, pipeline.text, message
        )
    }

    fn run(
        &self,
        nodes: &[Node],
        dot: &TemplateValue,
        out: &mut String,
        dot_is_root: bool,
    ) -> Result<(), String> {
        for node in nodes {
            match node {
                Node::Text(text) => out.push_str(text),
                Node::Print(pipeline) => {
                    let value = self.pipeline(pipeline, dot, dot_is_root)?;
                    match value {
                        TemplateValue::Nil => out.push_str("<no value>"),
                        value => out.push_str(&format_value(&value)),
                    }
                }
                Node::If {
                    branches,
                    otherwise,
                } => {
                    let mut taken = false;
                    for (condition, body) in branches {
                        if self.pipeline(condition, dot, dot_is_root)?.is_true() {
                            self.run(body, dot, out, dot_is_root)?;
                            taken = true;
                            break;
                        }
                    }
                    if !taken {
                        self.run(otherwise, dot, out, dot_is_root)?;
                    }
                }
                Node::With {
                    pipeline,
                    body,
                    otherwise,
                } => {
                    let value = self.pipeline(pipeline, dot, dot_is_root)?;
                    if value.is_true() {
                        self.run(body, &value, out, false)?;
                    } else {
                        self.run(otherwise, dot, out, dot_is_root)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn pipeline(
        &self,
        pipeline: &Pipeline,
        dot: &TemplateValue,
        dot_is_root: bool,
    ) -> Result<TemplateValue, String> {
        let mut last: Option<TemplateValue> = None;
        for command in &pipeline.commands {
            last = Some(
                self.command(command, dot, dot_is_root, last.take())
                    .map_err(|message| self.error(pipeline, &message))?,
            );
        }
        Ok(last.unwrap_or(TemplateValue::Nil))
    }

    fn command(
        &self,
        command: &Command,
        dot: &TemplateValue,
        dot_is_root: bool,
        piped: Option<TemplateValue>,
    ) -> Result<TemplateValue, String> {
        let Some(first) = command.operands.first() else {
            return Err("missing value for command".to_owned());
        };
        if let Operand::Function(name) = first {
            let mut args = Vec::with_capacity(command.operands.len());
            for operand in &command.operands[1..] {
                args.push(self.operand(operand, dot, dot_is_root)?);
            }
            args.extend(piped);
            return self.call(name, args);
        }
        if command.operands.len() > 1 || piped.is_some() {
            return Err(format!(
                "can't give argument to non-function {}",
                describe_operand(first)
            ));
        }
        self.operand(first, dot, dot_is_root)
    }

    fn call(&self, name: &str, args: Vec<TemplateValue>) -> Result<TemplateValue, String> {
        match name {
            "__line__" if args.is_empty() => Ok(TemplateValue::Str(self.input.line.to_owned())),
            "__timestamp__" if args.is_empty() => {
                Ok(TemplateValue::Time(self.input.timestamp_nanos))
            }
            "__line__" | "__timestamp__" => Err(format!(
                "wrong number of args for {name}: want 0 got {}",
                args.len()
            )),
            _ => call_function(name, args),
        }
    }

    fn operand(
        &self,
        operand: &Operand,
        dot: &TemplateValue,
        dot_is_root: bool,
    ) -> Result<TemplateValue, String> {
        Ok(match operand {
            Operand::Field(path) => {
                let name = path.first().map(String::as_str).unwrap_or_default();
                let value = match dot {
                    _ if dot_is_root => self.input.data.label(name).unwrap_or_default().to_owned(),
                    TemplateValue::Labels(labels) => labels
                        .iter()
                        .find(|(label, _)| label == name)
                        .map(|(_, value)| value.clone())
                        .unwrap_or_default(),
                    other => {
                        return Err(format!(
                            "can't evaluate field {name} in type {}",
                            other.type_name()
                        ))
                    }
                };
                if let Some(field) = path.get(1) {
                    return Err(format!("can't evaluate field {field} in type string"));
                }
                TemplateValue::Str(value)
            }
            Operand::Dot if dot_is_root => TemplateValue::Labels(self.input.data.all_labels()),
            Operand::Dot => dot.clone(),
            Operand::Str(s) => TemplateValue::Str(s.clone()),
            Operand::Int(i) => TemplateValue::Int(*i),
            Operand::Float(f) => TemplateValue::Float(*f),
            Operand::Bool(b) => TemplateValue::Bool(*b),
            Operand::Nil => TemplateValue::Nil,
            Operand::Function(name) => self.call(name, Vec::new())?,
            Operand::Pipeline(pipeline) => self.pipeline(pipeline, dot, dot_is_root)?,
        })
    }
}

fn describe_operand(operand: &Operand) -> String {
    match operand {
        Operand::Field(path) => format!(".{}", path.join(".")),
        Operand::Dot => ".".to_owned(),
        Operand::Str(s) => format!("{s:?}"),
        Operand::Int(i) => i.to_string(),
        Operand::Float(f) => f.to_string(),
        Operand::Bool(b) => b.to_string(),
        Operand::Nil => "nil".to_owned(),
        Operand::Function(name) => name.clone(),
        Operand::Pipeline(pipeline) => format!("({})", pipeline.text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Labels(Vec<(&'static str, &'static str)>);

    impl TemplateData for Labels {
        fn label(&self, name: &str) -> Option<&str> {
            self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
        }
        fn all_labels(&self) -> Vec<(String, String)> {
            self.0
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        }
    }

    fn render(source: &str) -> Result<String, String> {
        let labels = Labels(vec![
            ("app", "api"),
            ("level", "warn"),
            ("status", "404"),
            ("msg", "  padded  "),
        ]);
        let template = Template::parse("line", source)?;
        template.execute(&TemplateInput {
            data: &labels,
            line: "the original line",
            timestamp_nanos: 1_700_000_000_123_000_000,
        })
    }

    #[test]
    fn fields_pipelines_and_functions() {
        assert_eq!(
            render("{{.app}} says {{ .level | ToUpper }}"),
            Ok("api says WARN".into())
        );
        assert_eq!(render("[{{.missing}}]"), Ok("[]".into()));
        assert_eq!(render("{{ __line__ }}"), Ok("the original line".into()));
        assert_eq!(
            render("{{ __timestamp__ | unixEpochMillis }}"),
            Ok("1700000000123".into())
        );
        assert_eq!(
            render(r#"{{ printf "%s-%s" .app .level }}"#),
            Ok("api-warn".into())
        );
        assert_eq!(
            render("{{ .msg | TrimSpace }}|{{ TrimSpace .msg }}"),
            Ok("padded|padded".into())
        );
        assert_eq!(
            render(r#"{{ .missing | default "none" }}"#),
            Ok("none".into())
        );
        assert_eq!(
            render(r#"{{ regexReplaceAll "(a)(p)" .app "${2}$1" }}"#),
            Ok("pai".into())
        );
        assert_eq!(render("{{ len .app }}"), Ok("3".into()));
        assert_eq!(
            render(r#"{{ (printf "%s!" .app) | ToUpper }}"#),
            Ok("API!".into())
        );
    }

    #[test]
    fn conditionals_and_trimming() {
        assert_eq!(
            render(
                r#"{{ if eq .level "warn" }}W{{ else if eq .level "error" }}E{{ else }}?{{ end }}"#
            ),
            Ok("W".into())
        );
        assert_eq!(
            render(r#"{{ if ne .status "404" }}found{{ else }}missing{{ end }}"#),
            Ok("missing".into())
        );
        assert_eq!(render("a  {{- .app -}}  b"), Ok("aapib".into()));
        assert_eq!(render("{{/* comment */}}x"), Ok("x".into()));
        assert_eq!(
            render(r#"{{ with .app }}<{{ . }}>{{ end }}"#),
            Ok("<api>".into())
        );
        assert_eq!(
            render(r#"{{ if and .app (contains "pi" .app) }}yes{{ end }}"#),
            Ok("yes".into())
        );
    }

    #[test]
    fn parse_errors_use_go_wording() {
        assert_eq!(
            render("{{ .app "),
            Err("template: line:1: unclosed action".into())
        );
        assert_eq!(
            render("{{ nope .app }}"),
            Err("template: line:1: function \"nope\" not defined".into())
        );
        assert_eq!(
            render("{{ if .app }}x"),
            Err("template: line:1: unexpected EOF".into())
        );
        assert_eq!(
            render("x{{ end }}"),
            Err("template: line:1: unexpected {{end}}".into())
        );
        assert_eq!(
            render("{{ }}"),
            Err("template: line:1: missing value for command".into())
        );
    }

    #[test]
    fn execution_errors_name_the_action() {
        let wrong_type = render("{{ ToUpper 1 }}").err().unwrap_or_default();
        assert!(
            wrong_type.starts_with("template: line:1:1: executing \"line\" at <ToUpper 1>: ")
                && wrong_type.contains("expected string"),
            "{wrong_type}"
        );
        assert_eq!(
            render(r#"{{ eq .status 404 }}"#),
            Err("template: line:1:1: executing \"line\" at <eq .status 404>: error calling eq: incompatible types for comparison".into())
        );
    }
}
