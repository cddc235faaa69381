//! GraphQL as the engine reads it, before anything runs.
//!
//! The engine serves GraphQL through gqlgen (`dagql/server.go` NewDefaultHandler), which
//! parses with gqlparser and validates against the schema: a query that does not parse is
//! refused with `GRAPHQL_PARSE_FAILED`, one that does not validate with
//! `GRAPHQL_VALIDATION_FAILED`, both as HTTP 422 and before any field is resolved
//! (gqlgen `graphql/executor/executor.go` parseQuery, `graphql/handler/transport/
//! http_post.go` statusFor). The lexer and parser below give gqlparser's messages and
//! locations (line and column, counted in characters from 1) for the shapes a client
//! can send; the validation keeps the rules the engine keeps that matter here
//! (`validator/rules/fields_on_correct_type.go`, `known_argument_names.go`,
//! `provided_required_arguments.go`, suggestions from `validator/core/helpers.go`),
//! over the double's own schema ([`SCHEMA`]).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Where a token or a field starts: line and column, both from 1, columns in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// The line.
    pub line: usize,
    /// The column.
    pub column: usize,
}

/// A GraphQL error before execution, as gqlparser words it.
#[derive(Debug, Clone, PartialEq)]
pub struct GqlError {
    /// The message.
    pub message: String,
    /// Where it is, when gqlparser says.
    pub at: Option<Position>,
}

impl GqlError {
    fn at(at: Position, message: String) -> Self {
        Self {
            message,
            at: Some(at),
        }
    }
}

/// Why a query was not accepted as a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// gqlparser could not parse it: `GRAPHQL_PARSE_FAILED`.
    Parse(GqlError),
    /// It parsed but is not valid: `GRAPHQL_VALIDATION_FAILED` (one or more errors).
    Invalid(Vec<GqlError>),
    /// Valid GraphQL the double does not take (variables, directives, named fragments,
    /// several operations): no client of the harness sends it.
    Unsupported(String),
}

/// A GraphQL value as sent: strings, numbers, booleans, null, lists, objects; an enum
/// value (a bare word such as `ANY`) is kept as a string.
pub type Literal = Value;

/// One field of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The alias, when the SDK sent one.
    pub alias: Option<String>,
    /// The field name.
    pub name: String,
    /// The arguments, decoded.
    pub args: BTreeMap<String, Literal>,
    /// The fields selected on its result.
    pub selection: Vec<Node>,
    /// Where the field starts (its alias, when it has one), as gqlparser places it.
    pub at: Position,
}

impl Field {
    /// The key of this field in the reply.
    pub fn key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }

    /// A string argument.
    pub fn str_arg(&self, name: &str) -> Option<&str> {
        self.args.get(name).and_then(Value::as_str)
    }

    /// A list-of-strings argument.
    pub fn strings_arg(&self, name: &str) -> Option<Vec<String>> {
        self.args.get(name)?.as_array().map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect()
        })
    }
}

/// An entry of a selection set.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A field.
    Field(Field),
    /// `... on Type { ... }`: adds no level to the reply.
    Fragment {
        /// The type condition (empty for `... { }`).
        on: String,
        /// What is selected inside.
        selection: Vec<Node>,
    },
}

/// Parses `query{...}` (the word `query` and a name are optional) into its selection set;
/// the error is the message alone (see [`parse_document`] for the whole refusal).
pub fn parse_query(text: &str) -> Result<Vec<Node>, String> {
    parse_document(text).map_err(|refusal| match refusal {
        Refusal::Parse(e) => e.message,
        Refusal::Invalid(errors) => errors
            .into_iter()
            .map(|e| e.message)
            .collect::<Vec<_>>()
            .join("; "),
        Refusal::Unsupported(why) => why,
    })
}

/// The chain of fields of a selection set with one field per level (fragments skipped).
pub fn chain_of(nodes: &[Node]) -> Result<Vec<Field>, String> {
    let mut chain = Vec::new();
    let mut level = nodes;
    loop {
        match level {
            [] => return Ok(chain),
            [Node::Fragment { selection, .. }] => level = selection,
            [Node::Field(field)] => {
                chain.push(Field {
                    selection: Vec::new(),
                    ..field.clone()
                });
                level = &field.selection;
            }
            _ => return Err("the double answers one field per level, as the SDK asks".into()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Lexer: gqlparser `lexer/lexer.go`.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Eof,
    Bang,
    Dollar,
    Amp,
    ParenL,
    ParenR,
    Spread,
    Colon,
    Equals,
    At,
    BracketL,
    BracketR,
    BraceL,
    BraceR,
    Pipe,
    Name,
    Int,
    Float,
    Str,
    BlockStr,
}

impl Kind {
    /// gqlparser's `Type.String()`.
    fn text(self) -> &'static str {
        match self {
            Kind::Eof => "<EOF>",
            Kind::Bang => "!",
            Kind::Dollar => "$",
            Kind::Amp => "&",
            Kind::ParenL => "(",
            Kind::ParenR => ")",
            Kind::Spread => "...",
            Kind::Colon => ":",
            Kind::Equals => "=",
            Kind::At => "@",
            Kind::BracketL => "[",
            Kind::BracketR => "]",
            Kind::BraceL => "{",
            Kind::BraceR => "}",
            Kind::Pipe => "|",
            Kind::Name => "Name",
            Kind::Int => "Int",
            Kind::Float => "Float",
            Kind::Str => "String",
            Kind::BlockStr => "BlockString",
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    /// The name, number or decoded string; empty for punctuation and the end.
    value: String,
    at: Position,
}

impl Token {
    /// gqlparser's `Token.String()`: the kind, and the value quoted when there is one.
    fn describe(&self) -> String {
        if self.value.is_empty() {
            self.kind.text().to_owned()
        } else {
            format!("{} {}", self.kind.text(), Value::String(self.value.clone()))
        }
    }
}

struct Lexer {
    chars: Vec<char>,
    at: usize,
    line: usize,
    line_start: usize,
}

impl Lexer {
    fn new(text: &str) -> Self {
        Self {
            chars: text.chars().collect(),
            at: 0,
            line: 1,
            line_start: 0,
        }
    }

    fn position(&self, at: usize) -> Position {
        Position {
            line: self.line,
            column: at - self.line_start + 1,
        }
    }

    /// An error where the lexer stands (gqlparser's `makeError` uses the end).
    fn error(&self, message: String) -> GqlError {
        GqlError::at(self.position(self.at), message)
    }

    fn peek_char(&self, offset: usize) -> Option<char> {
        self.chars.get(self.at + offset).copied()
    }

    /// White space, line ends, commas, byte order marks and comments.
    fn skip_ignored(&mut self) {
        while let Some(c) = self.peek_char(0) {
            match c {
                ' ' | '\t' | ',' | '\u{feff}' => self.at += 1,
                '\n' => {
                    self.at += 1;
                    self.line += 1;
                    self.line_start = self.at;
                }
                '\r' => {
                    self.at += 1;
                    if self.peek_char(0) == Some('\n') {
                        self.at += 1;
                    }
                    self.line += 1;
                    self.line_start = self.at;
                }
                '#' => {
                    while self.peek_char(0).is_some_and(|c| c != '\n' && c != '\r') {
                        self.at += 1;
                    }
                }
                _ => return,
            }
        }
    }

    fn token(&mut self) -> Result<Token, GqlError> {
        self.skip_ignored();
        let start = self.at;
        let at = self.position(start);
        let punct = |kind| {
            Ok(Token {
                kind,
                value: String::new(),
                at,
            })
        };
        let Some(c) = self.peek_char(0) else {
            return punct(Kind::Eof);
        };
        self.at += 1;
        match c {
            '!' => return punct(Kind::Bang),
            '$' => return punct(Kind::Dollar),
            '&' => return punct(Kind::Amp),
            '(' => return punct(Kind::ParenL),
            ')' => return punct(Kind::ParenR),
            ':' => return punct(Kind::Colon),
            '=' => return punct(Kind::Equals),
            '@' => return punct(Kind::At),
            '[' => return punct(Kind::BracketL),
            ']' => return punct(Kind::BracketR),
            '{' => return punct(Kind::BraceL),
            '}' => return punct(Kind::BraceR),
            '|' => return punct(Kind::Pipe),
            '.' if self.peek_char(0) == Some('.') && self.peek_char(1) == Some('.') => {
                self.at += 2;
                return punct(Kind::Spread);
            }
            c if c == '_' || c.is_ascii_alphabetic() => {
                while self
                    .peek_char(0)
                    .is_some_and(|c| c == '_' || c.is_ascii_alphanumeric())
                {
                    self.at += 1;
                }
                return Ok(Token {
                    kind: Kind::Name,
                    value: self.chars[start..self.at].iter().collect(),
                    at,
                });
            }
            '-' | '0'..='9' => return self.number(start, at),
            '"' => {
                // gqlparser places a string token after its opening quotes.
                if self.peek_char(0) == Some('"') && self.peek_char(1) == Some('"') {
                    self.at += 2;
                    let inside = Position {
                        column: at.column + 3,
                        ..at
                    };
                    return self.block_string(inside);
                }
                let inside = Position {
                    column: at.column + 1,
                    ..at
                };
                return self.string(inside);
            }
            _ => {}
        }
        self.at = start;
        let code = c as u32;
        Err(if code < 0x20 && c != '\t' && c != '\n' && c != '\r' {
            self.error(format!(
                "Cannot contain the invalid character \"\\u{code:04}\""
            ))
        } else if c == '\'' {
            self.error(
                "Unexpected single quote character ('), did you mean to use a double quote (\")?"
                    .into(),
            )
        } else {
            self.error(format!("Cannot parse the unexpected character \"{c}\"."))
        })
    }

    /// gqlparser's `describeNext`.
    fn describe_next(&self) -> String {
        match self.peek_char(0) {
            Some(c) => format!("\"{c}\""),
            None => "<EOF>".into(),
        }
    }

    fn digits(&mut self) -> usize {
        let from = self.at;
        while self.peek_char(0).is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        self.at - from
    }

    fn number(&mut self, start: usize, at: Position) -> Result<Token, GqlError> {
        // The first character (`-` or a digit) is taken already.
        let mut float = false;
        if self.chars[start] == '-' {
            if self.digits() == 0 {
                return Err(self.error(format!(
                    "Invalid number, expected digit but got: {}.",
                    self.describe_next()
                )));
            }
        } else if self.chars[start] == '0' {
            if self.peek_char(0).is_some_and(|c| c.is_ascii_digit()) {
                return Err(self.error(format!(
                    "Invalid number, unexpected digit after 0: {}.",
                    self.describe_next()
                )));
            }
        } else {
            self.digits();
        }
        if self.peek_char(0) == Some('.') {
            float = true;
            self.at += 1;
            if self.digits() == 0 {
                return Err(self.error(format!(
                    "Invalid number, expected digit but got: {}.",
                    self.describe_next()
                )));
            }
        }
        if matches!(self.peek_char(0), Some('e' | 'E')) {
            float = true;
            self.at += 1;
            if matches!(self.peek_char(0), Some('+' | '-')) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err(self.error(format!(
                    "Invalid number, expected digit but got: {}.",
                    self.describe_next()
                )));
            }
        }
        Ok(Token {
            kind: if float { Kind::Float } else { Kind::Int },
            value: self.chars[start..self.at].iter().collect(),
            at,
        })
    }

    fn string(&mut self, at: Position) -> Result<Token, GqlError> {
        let mut value = String::new();
        while let Some(c) = self.peek_char(0) {
            match c {
                '\n' | '\r' => break,
                '"' => {
                    self.at += 1;
                    return Ok(Token {
                        kind: Kind::Str,
                        value,
                        at,
                    });
                }
                c if (c as u32) < 0x20 && c != '\t' => {
                    return Err(self.error(format!(
                        "Invalid character within String: \"\\u{:04}\".",
                        c as u32
                    )));
                }
                '\\' => {
                    self.at += 1;
                    let escaped = match self.peek_char(0) {
                        Some('"') => '"',
                        Some('\\') => '\\',
                        Some('/') => '/',
                        Some('b') => '\u{8}',
                        Some('f') => '\u{c}',
                        Some('n') => '\n',
                        Some('r') => '\r',
                        Some('t') => '\t',
                        Some('u') => {
                            let hex: String = self
                                .chars
                                .get(self.at + 1..self.at + 5)
                                .map(|h| h.iter().collect())
                                .unwrap_or_default();
                            match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                                Some(c) if hex.len() == 4 => {
                                    self.at += 4;
                                    c
                                }
                                _ => {
                                    return Err(self.error(format!(
                                        "Invalid character escape sequence: \\u{hex}."
                                    )));
                                }
                            }
                        }
                        Some(other) => {
                            return Err(self
                                .error(format!("Invalid character escape sequence: \\{other}.")));
                        }
                        None => break,
                    };
                    self.at += 1;
                    value.push(escaped);
                }
                c => {
                    self.at += 1;
                    value.push(c);
                }
            }
        }
        Err(self.error("Unterminated string.".into()))
    }

    /// `"""..."""`, kept as written (no indentation stripping: no client of the harness
    /// sends one).
    fn block_string(&mut self, at: Position) -> Result<Token, GqlError> {
        let mut value = String::new();
        while let Some(c) = self.peek_char(0) {
            if c == '"' && self.peek_char(1) == Some('"') && self.peek_char(2) == Some('"') {
                self.at += 3;
                return Ok(Token {
                    kind: Kind::BlockStr,
                    value,
                    at,
                });
            }
            if c == '\\'
                && self.peek_char(1) == Some('"')
                && self.peek_char(2) == Some('"')
                && self.peek_char(3) == Some('"')
            {
                self.at += 4;
                value.push_str("\"\"\"");
                continue;
            }
            self.at += 1;
            if c == '\n' {
                self.line += 1;
                self.line_start = self.at;
            }
            value.push(c);
        }
        Err(self.error("Unterminated string.".into()))
    }
}

// ---------------------------------------------------------------------------------------
// Parser: gqlparser `parser/parser.go` and `parser/query.go`.
// ---------------------------------------------------------------------------------------

struct Parser {
    lexer: Lexer,
    peeked: Option<Token>,
}

/// What stops the parse: a parse error, or a shape the double does not take.
enum Stop {
    Parse(GqlError),
    Invalid(GqlError),
    Unsupported(String),
}

impl From<GqlError> for Stop {
    fn from(e: GqlError) -> Self {
        Stop::Parse(e)
    }
}

type Parsed<T> = Result<T, Stop>;

impl Parser {
    fn peek(&mut self) -> Parsed<&Token> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.token()?);
        }
        Ok(self.peeked.as_ref().expect("peeked"))
    }

    fn next(&mut self) -> Parsed<Token> {
        self.peek()?;
        Ok(self.peeked.take().expect("peeked"))
    }

    fn peek_kind(&mut self) -> Parsed<Kind> {
        Ok(self.peek()?.kind)
    }

    /// `Expected <kind>, found <kind>` (gqlparser's `expect` names the kind alone).
    fn expect(&mut self, kind: Kind) -> Parsed<Token> {
        let token = self.peek()?;
        if token.kind == kind {
            return self.next();
        }
        Err(Stop::Parse(GqlError::at(
            token.at,
            format!("Expected {}, found {}", kind.text(), token.kind.text()),
        )))
    }

    fn unexpected(&mut self) -> Stop {
        match self.peek() {
            Ok(token) => Stop::Parse(GqlError::at(
                token.at,
                format!("Unexpected {}", token.describe()),
            )),
            Err(stop) => stop,
        }
    }

    fn name(&mut self) -> Parsed<String> {
        Ok(self.expect(Kind::Name)?.value)
    }

    /// gqlparser's `some`: an opening token, at least one item, the closing token.
    fn some<T>(
        &mut self,
        close: Kind,
        mut item: impl FnMut(&mut Self) -> Parsed<T>,
    ) -> Parsed<Vec<T>> {
        self.next()?; // the opening token, checked by the caller
        let mut items = Vec::new();
        loop {
            let token = self.peek()?;
            if token.kind == close {
                if items.is_empty() {
                    return Err(Stop::Parse(GqlError::at(
                        token.at,
                        format!(
                            "expected at least one definition, found {}",
                            token.kind.text()
                        ),
                    )));
                }
                self.next()?;
                return Ok(items);
            }
            items.push(item(self)?);
        }
    }

    fn document(&mut self) -> Result<Vec<Node>, Refusal> {
        let result = self.operation();
        match result {
            Ok(Some(selection)) => Ok(selection),
            // gqlgen: an empty document has no operation.
            Ok(None) => Err(Refusal::Invalid(vec![GqlError {
                message: "no operation provided".into(),
                at: None,
            }])),
            Err(Stop::Parse(e)) => Err(Refusal::Parse(e)),
            Err(Stop::Invalid(e)) => Err(Refusal::Invalid(vec![e])),
            Err(Stop::Unsupported(why)) => Err(Refusal::Unsupported(why)),
        }
    }

    fn operation(&mut self) -> Parsed<Option<Vec<Node>>> {
        let token = self.peek()?.clone();
        let selection = match (token.kind, token.value.as_str()) {
            (Kind::Eof, _) => return Ok(None),
            (Kind::BraceL, _) => self.required_selection_set()?,
            (Kind::Name, "query") => {
                self.next()?;
                if self.peek_kind()? == Kind::Name {
                    self.next()?;
                }
                match self.peek_kind()? {
                    Kind::ParenL => {
                        return Err(Stop::Unsupported(
                            "the double takes no variables (the SDK inlines arguments)".into(),
                        ));
                    }
                    Kind::At => {
                        return Err(Stop::Unsupported("the double takes no directives".into()));
                    }
                    _ => {}
                }
                self.required_selection_set()?
            }
            (Kind::Name, "mutation" | "subscription" | "fragment") => {
                return Err(Stop::Unsupported(format!(
                    "the double answers one query operation, not a {}",
                    token.value
                )));
            }
            _ => return Err(self.unexpected()),
        };
        match self.peek_kind()? {
            Kind::Eof => Ok(Some(selection)),
            Kind::Name | Kind::BraceL => Err(Stop::Unsupported(
                "the double answers one operation per document".into(),
            )),
            _ => Err(self.unexpected()),
        }
    }

    fn required_selection_set(&mut self) -> Parsed<Vec<Node>> {
        let token = self.peek()?;
        if token.kind != Kind::BraceL {
            return Err(Stop::Parse(GqlError::at(
                token.at,
                format!("Expected {{, found {}", token.kind.text()),
            )));
        }
        self.some(Kind::BraceR, Self::selection)
    }

    fn selection(&mut self) -> Parsed<Node> {
        if self.peek_kind()? != Kind::Spread {
            return self.field().map(Node::Field);
        }
        self.next()?;
        let token = self.peek()?.clone();
        if token.kind == Kind::Name && token.value != "on" {
            return Err(Stop::Unsupported(
                "the double takes no named fragments".into(),
            ));
        }
        let mut on = String::new();
        if token.kind == Kind::Name {
            self.next()?;
            on = self.name()?;
        }
        if self.peek_kind()? == Kind::At {
            return Err(Stop::Unsupported("the double takes no directives".into()));
        }
        let selection = self.required_selection_set()?;
        Ok(Node::Fragment { on, selection })
    }

    fn field(&mut self) -> Parsed<Field> {
        let at = self.peek()?.at;
        let first = self.name()?;
        let (alias, name) = if self.peek_kind()? == Kind::Colon {
            self.next()?;
            (Some(first), self.name()?)
        } else {
            (None, first)
        };
        let mut args = BTreeMap::new();
        if self.peek_kind()? == Kind::ParenL {
            let list = self.some(Kind::ParenR, |p| {
                let at = p.peek()?.at;
                let name = p.name()?;
                p.expect(Kind::Colon)?;
                Ok((at, name, p.value()?))
            })?;
            for (at, arg, value) in list {
                if args.insert(arg.clone(), value).is_some() {
                    // gqlparser's UniqueArgumentNames, a validation rule; the double
                    // stops at the first such error.
                    return Err(Stop::Invalid(GqlError::at(
                        at,
                        format!("There can be only one argument named \"{arg}\"."),
                    )));
                }
            }
        }
        if self.peek_kind()? == Kind::At {
            return Err(Stop::Unsupported("the double takes no directives".into()));
        }
        let selection = if self.peek_kind()? == Kind::BraceL {
            self.some(Kind::BraceR, Self::selection)?
        } else {
            Vec::new()
        };
        Ok(Field {
            alias,
            name,
            args,
            selection,
            at,
        })
    }

    fn value(&mut self) -> Parsed<Value> {
        let token = self.peek()?.clone();
        match token.kind {
            Kind::BracketL => {
                self.next()?;
                let mut items = Vec::new();
                while self.peek_kind()? != Kind::BracketR {
                    items.push(self.value()?);
                }
                self.next()?;
                Ok(Value::Array(items))
            }
            Kind::BraceL => {
                self.next()?;
                let mut object = Map::new();
                while self.peek_kind()? != Kind::BraceR {
                    let key = self.name()?;
                    self.expect(Kind::Colon)?;
                    object.insert(key, self.value()?);
                }
                self.next()?;
                Ok(Value::Object(object))
            }
            Kind::Dollar => Err(Stop::Unsupported(
                "the double takes no variables (the SDK inlines arguments)".into(),
            )),
            Kind::Int | Kind::Float => {
                self.next()?;
                Ok(serde_json::from_str(&token.value).unwrap_or(Value::String(token.value)))
            }
            Kind::Str | Kind::BlockStr => {
                self.next()?;
                Ok(Value::String(token.value))
            }
            Kind::Name => {
                self.next()?;
                Ok(match token.value.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    _ => Value::String(token.value), // an enum value
                })
            }
            _ => Err(self.unexpected()),
        }
    }
}

/// Parses a query document as gqlparser does: its selection set, or why not.
pub fn parse_document(text: &str) -> Result<Vec<Node>, Refusal> {
    Parser {
        lexer: Lexer::new(text),
        peeked: None,
    }
    .document()
}

// ---------------------------------------------------------------------------------------
// The double's schema, and validation.
// ---------------------------------------------------------------------------------------

/// An argument: name, GraphQL type, default (GraphQL JSON, when it has one).
#[derive(Debug)]
pub struct ArgDef {
    /// The name.
    pub name: &'static str,
    /// The type as GraphQL writes it (`String!`, `[String!]!`).
    pub ty: &'static str,
    /// The default value, as JSON.
    pub default: Option<&'static str>,
}

/// A field of an object type.
#[derive(Debug)]
pub struct FieldDef {
    /// The name.
    pub name: &'static str,
    /// Its arguments.
    pub args: &'static [ArgDef],
    /// The type it returns, as GraphQL writes it.
    pub ty: &'static str,
}

impl FieldDef {
    /// The named type it returns (`Container` for `Container!`).
    pub fn named_type(&self) -> &'static str {
        self.ty.trim_matches(|c| c == '[' || c == ']' || c == '!')
    }
}

const fn arg(name: &'static str, ty: &'static str) -> ArgDef {
    ArgDef {
        name,
        ty,
        default: None,
    }
}

const fn arg_or(name: &'static str, ty: &'static str, default: &'static str) -> ArgDef {
    ArgDef {
        name,
        ty,
        default: Some(default),
    }
}

const fn field(name: &'static str, args: &'static [ArgDef], ty: &'static str) -> FieldDef {
    FieldDef { name, args, ty }
}

/// The object types the double serves, with the fields it evaluates.
///
/// Core types follow the engine's schema (`docs/docs-graphql/schema.graphqls`: the
/// arguments, their types and defaults), with the few arguments the pinned dagger-sdk
/// (1.0.0-beta.23) can send besides (`noLock`, `version` on `from`;
/// `disableDaggerInDagger`, `daggerInDaggerNewSession` on `withExec`), so that nothing the
/// SDK writes is refused. The module's types are the double's own: entrypoint functions
/// `hello` and `greeting` on `Query`, and the object `greeter`.
pub const SCHEMA: &[(&str, &[FieldDef])] = &[
    (
        "Query",
        &[
            field("container", &[arg("platform", "Platform")], "Container!"),
            field("host", &[], "Host!"),
            field("version", &[], "String!"),
            field("hello", &[arg_or("name", "String", "\"world\"")], "String!"),
            field("greeting", &[arg("name", "String!")], "Greeting!"),
            field("greeter", &[], "Greeter!"),
        ],
    ),
    (
        "Container",
        &[
            field(
                "from",
                &[
                    arg("address", "String!"),
                    arg("registryService", "ID"),
                    arg("protocol", "RegistryProtocol"),
                    arg_or("insecureSkipTLSVerify", "Boolean", "false"),
                    arg("noLock", "Boolean"),
                    arg("version", "String"),
                ],
                "Container!",
            ),
            field(
                "withEnvVariable",
                &[
                    arg("name", "String!"),
                    arg("value", "String!"),
                    arg_or("expand", "Boolean", "false"),
                ],
                "Container!",
            ),
            field(
                "withMountedDirectory",
                &[
                    arg("path", "String!"),
                    arg("source", "ID!"),
                    arg_or("owner", "String", "\"\""),
                    arg_or("inheritOwner", "Boolean", "false"),
                    arg_or("readOnly", "Boolean", "false"),
                    arg_or("expand", "Boolean", "false"),
                ],
                "Container!",
            ),
            field(
                "withWorkdir",
                &[arg("path", "String!"), arg_or("expand", "Boolean", "false")],
                "Container!",
            ),
            field(
                "withExec",
                &[
                    arg("args", "[String!]!"),
                    arg_or("useEntrypoint", "Boolean", "false"),
                    arg_or("stdin", "String", "\"\""),
                    arg_or("redirectStdin", "String", "\"\""),
                    arg_or("redirectStdout", "String", "\"\""),
                    arg_or("redirectStderr", "String", "\"\""),
                    arg_or("expect", "ReturnType", "\"SUCCESS\""),
                    arg_or("experimentalPrivilegedNesting", "Boolean", "false"),
                    arg_or("insecureRootCapabilities", "Boolean", "false"),
                    arg_or("expand", "Boolean", "false"),
                    arg_or("noInit", "Boolean", "false"),
                    arg("disableDaggerInDagger", "Boolean"),
                    arg("daggerInDaggerNewSession", "Boolean"),
                ],
                "Container!",
            ),
            field("stdout", &[], "String!"),
            field("stderr", &[], "String!"),
            field("exitCode", &[], "Int!"),
            field("id", &[], "ID!"),
            field("sync", &[], "ID!"),
        ],
    ),
    (
        "Host",
        &[field(
            "directory",
            &[
                arg("path", "String!"),
                arg_or("exclude", "[String!]", "[]"),
                arg_or("include", "[String!]", "[]"),
                arg_or("noCache", "Boolean", "false"),
                arg_or("gitignore", "Boolean", "false"),
            ],
            "Directory!",
        )],
    ),
    ("Directory", &[field("id", &[], "ID!")]),
    (
        "Greeting",
        &[
            field("message", &[], "String!"),
            field("length", &[], "Int!"),
            field("json", &[], "String!"),
        ],
    ),
    (
        "Greeter",
        &[
            field(
                "greet",
                &[
                    arg("name", "String!"),
                    arg_or("punctuation", "String", "\"!\""),
                ],
                "String!",
            ),
            field("shout", &[arg("name", "String!")], "String!"),
        ],
    ),
];

/// The fields of an object type; `None` for scalars and unknown types.
pub fn fields_of(type_name: &str) -> Option<&'static [FieldDef]> {
    SCHEMA
        .iter()
        .find(|(name, _)| *name == type_name)
        .map(|(_, fields)| *fields)
}

/// The definition of `field` on `type_name`.
pub fn field_def(type_name: &str, field: &str) -> Option<&'static FieldDef> {
    fields_of(type_name)?.iter().find(|f| f.name == field)
}

/// The arguments of `field` on `type_name` as the engine keys the call: what was sent,
/// and every default not sent (dagql puts defaults into the call, so
/// `greet(name: "a")` and `greet(name: "a", punctuation: "!")` are one call).
pub fn args_with_defaults(type_name: &str, field: &Field) -> BTreeMap<String, Value> {
    let mut args = field.args.clone();
    if let Some(def) = field_def(type_name, &field.name) {
        for a in def.args {
            if let (Some(default), false) = (a.default, args.contains_key(a.name)) {
                args.insert(
                    a.name.to_owned(),
                    serde_json::from_str(default).unwrap_or(Value::Null),
                );
            }
        }
    }
    args
}

/// Validates `selection` on `Query`: every error, in gqlparser's order (a field's errors
/// after its children's; per field FieldsOnCorrectType, KnownArgumentNames, then
/// ProvidedRequiredArguments: gqlparser runs its rules sorted by name).
pub fn validate(selection: &[Node]) -> Vec<GqlError> {
    let mut errors = Vec::new();
    walk(Some("Query"), selection, &mut errors);
    errors
}

fn walk(parent: Option<&str>, selection: &[Node], errors: &mut Vec<GqlError>) {
    for node in selection {
        match node {
            Node::Fragment { on, selection } => {
                let next = if on.is_empty() {
                    parent
                } else {
                    Some(on.as_str())
                };
                walk(next, selection, errors);
            }
            Node::Field(field) => {
                let def = parent.and_then(|p| {
                    fields_of(p).and_then(|fields| fields.iter().find(|f| f.name == field.name))
                });
                walk(def.map(FieldDef::named_type), &field.selection, errors);
                let Some(parent) = parent else { continue };
                let Some(def) = def else {
                    // validator/rules/fields_on_correct_type.go
                    let mut message = format!(
                        "Cannot query field \"{}\" on type \"{parent}\".",
                        field.name
                    );
                    if let Some(fields) = fields_of(parent) {
                        let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
                        let suggested = suggestion_list(&field.name, &names);
                        if !suggested.is_empty() {
                            message.push_str(&format!(
                                " Did you mean {}?",
                                quoted_or_list(&suggested)
                            ));
                        }
                    }
                    errors.push(GqlError::at(field.at, message));
                    continue;
                };
                // validator/rules/known_argument_names.go
                for name in field.args.keys() {
                    if def.args.iter().any(|a| a.name == name) {
                        continue;
                    }
                    let mut message = format!(
                        "Unknown argument \"{name}\" on field \"{parent}.{}\".",
                        field.name
                    );
                    let names: Vec<&str> = def.args.iter().map(|a| a.name).collect();
                    let suggested = suggestion_list(name, &names);
                    if !suggested.is_empty() {
                        message.push_str(&format!(" Did you mean {}?", quoted_or_list(&suggested)));
                    }
                    errors.push(GqlError::at(field.at, message));
                }
                // validator/rules/provided_required_arguments.go
                for a in def.args {
                    if a.ty.ends_with('!')
                        && a.default.is_none()
                        && !field.args.contains_key(a.name)
                    {
                        errors.push(GqlError::at(
                            field.at,
                            format!(
                                "Field \"{}\" argument \"{}\" of type \"{}\" is required, but it was not provided.",
                                field.name, a.name, a.ty
                            ),
                        ));
                    }
                }
            }
        }
    }
}

/// `validator/core/helpers.go` SuggestionList: the options within a typo's reach, nearest
/// first (ties in schema order).
fn suggestion_list<'a>(input: &str, options: &[&'a str]) -> Vec<&'a str> {
    let threshold = (input.len() as f64 * 0.4).floor() as usize + 1;
    let mut found: Vec<(usize, &str)> = options
        .iter()
        .map(|o| (lexical_distance(input, o), *o))
        .filter(|(d, _)| *d <= threshold)
        .collect();
    found.sort_by_key(|(d, _)| *d);
    found.into_iter().map(|(_, o)| o).collect()
}

/// Edit distance where a change of case alone counts as one edit.
fn lexical_distance(a: &str, b: &str) -> usize {
    if a == b {
        return 0;
    }
    let (a, b) = (a.to_lowercase(), b.to_lowercase());
    if a == b {
        return 1;
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// `"A"`, `"A" or "B"`, `"A", "B", or "C"` (at most five).
fn quoted_or_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().take(5).map(|i| format!("\"{i}\"")).collect();
    match quoted.as_slice() {
        [a, b] => format!("{a} or {b}"),
        _ => {
            let mut out = String::new();
            for (i, item) in quoted.iter().enumerate() {
                if i != 0 {
                    out.push_str(if i == quoted.len() - 1 { ", or " } else { ", " });
                }
                out.push_str(item);
            }
            out
        }
    }
}
