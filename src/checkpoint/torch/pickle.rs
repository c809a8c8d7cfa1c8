//! A restricted unpickler for the `data.pkl` of a PyTorch checkpoint: it reads the pickle
//! opcodes a `torch.save`d state dict uses and builds plain values, never objects. The only
//! globals it knows are those of tensor checkpoints (`OrderedDict`, tensor and parameter
//! rebuilds, storage types); any other global is refused with its name, before anything is
//! called. Nothing is ever executed: a "call" of a known global is a constructor here.

use std::collections::HashMap;

/// What a storage holds, from its pickled type (`torch.FloatStorage`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageDtype {
    F32,
    F16,
    BF16,
    F64,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl StorageDtype {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "FloatStorage" => StorageDtype::F32,
            "HalfStorage" => StorageDtype::F16,
            "BFloat16Storage" => StorageDtype::BF16,
            "DoubleStorage" => StorageDtype::F64,
            "LongStorage" => StorageDtype::I64,
            "IntStorage" => StorageDtype::I32,
            "ShortStorage" => StorageDtype::I16,
            "CharStorage" => StorageDtype::I8,
            "ByteStorage" => StorageDtype::U8,
            "BoolStorage" => StorageDtype::Bool,
            _ => return None,
        })
    }

    pub fn bytes(self) -> usize {
        match self {
            StorageDtype::F64 | StorageDtype::I64 => 8,
            StorageDtype::F32 | StorageDtype::I32 => 4,
            StorageDtype::F16 | StorageDtype::BF16 | StorageDtype::I16 => 2,
            StorageDtype::I8 | StorageDtype::U8 | StorageDtype::Bool => 1,
        }
    }
}

/// A tensor of the checkpoint: a view of `numel` elements of storage `key` from `offset`.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorRef {
    pub key: String,
    pub dtype: StorageDtype,
    /// Elements the whole storage holds.
    pub storage_len: u64,
    /// First element of the view.
    pub offset: u64,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Global {
    OrderedDict,
    RebuildTensor,
    RebuildParameter,
    Storage(StorageDtype),
}

impl Global {
    /// The globals tensor checkpoints use; `None` for any other.
    fn known(module: &str, name: &str) -> Option<Self> {
        match (module, name) {
            ("collections", "OrderedDict") => Some(Global::OrderedDict),
            ("torch._utils", "_rebuild_tensor_v2") => Some(Global::RebuildTensor),
            ("torch._utils", "_rebuild_parameter") => Some(Global::RebuildParameter),
            ("torch", storage) => StorageDtype::from_name(storage).map(Global::Storage),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(Global),
    Storage { key: String, dtype: StorageDtype, len: u64 },
    Tensor(TensorRef),
    Mark,
}

/// Why `data.pkl` cannot be read; each says where.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum PickleError {
    #[error("data.pkl uses the global `{0}`, which no tensor checkpoint needs: refused (nothing was executed)")]
    Global(String),
    #[error("data.pkl, byte {at}: {message}")]
    Invalid { at: usize, message: String },
}

/// Most values on the stack and in the memo: far more than any state dict needs.
const MAX_ITEMS: usize = 1 << 22;

/// Deepest nesting of values: a state dict nests a few levels (a dict of tensors, each
/// rebuilt from a tuple of tuples). Values are dropped and compared recursively, so this
/// bounds the stack those take too.
const MAX_DEPTH: u32 = 100;

/// Values an unpickler may build (a recalled memo entry counts as a copy of all of its) per
/// byte of the pickle, beyond a floor: a state dict builds a few per byte, a pickle whose memo
/// entries refer to each other ("billion laughs") builds exponentially many.
const NODES_PER_BYTE: u64 = 16;
const MIN_NODES: u64 = 1 << 16;

/// A value on the stack or in the memo, with how deep it nests and how many values it holds
/// (itself included), so that neither needs a walk over it.
#[derive(Clone, Debug)]
struct Slot {
    value: Value,
    depth: u32,
    nodes: u64,
}

impl Slot {
    fn leaf(value: Value) -> Slot {
        Slot { value, depth: 0, nodes: 1 }
    }
}

/// The tensors of a pickled state dict, by name, in the dict's order.
pub fn state_dict(pickle: &[u8]) -> Result<Vec<(String, TensorRef)>, PickleError> {
    let budget = MIN_NODES + NODES_PER_BYTE * pickle.len() as u64;
    let value = Unpickler { data: pickle, at: 0, stack: Vec::new(), memo: HashMap::new(), budget }.run()?;
    let invalid = |message: &str| PickleError::Invalid { at: pickle.len(), message: message.to_string() };
    let Value::Dict(items) = value else { return Err(invalid("the pickle is not a dict of tensors")) };
    let mut out = Vec::with_capacity(items.len());
    for (key, value) in items {
        match (key, value) {
            (Value::Text(name), Value::Tensor(tensor)) => out.push((name, tensor)),
            (Value::Text(name), _) => return Err(invalid(&format!("`{name}` is not a tensor"))),
            _ => return Err(invalid("a key of the dict is not a string")),
        }
    }
    Ok(out)
}

struct Unpickler<'a> {
    data: &'a [u8],
    at: usize,
    stack: Vec<Slot>,
    memo: HashMap<u32, Slot>,
    /// Values it may still build.
    budget: u64,
}

impl Unpickler<'_> {
    fn error(&self, message: impl Into<String>) -> PickleError {
        PickleError::Invalid { at: self.at, message: message.into() }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], PickleError> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.data.len()).ok_or_else(|| self.error("the pickle ends early"))?;
        let bytes = &self.data[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn uint(&mut self, n: usize) -> Result<u64, PickleError> {
        let bytes = self.take(n)?;
        Ok(bytes.iter().rev().fold(0u64, |v, &b| (v << 8) | b as u64))
    }

    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.data[self.at..];
        let end = rest.iter().position(|&b| b == b'\n').ok_or_else(|| self.error("a line without its end"))?;
        let text = std::str::from_utf8(&rest[..end]).map_err(|_| self.error("a name that is not UTF-8"))?.to_string();
        self.at += end + 1;
        Ok(text)
    }

    fn text(&mut self, n: usize) -> Result<Value, PickleError> {
        let bytes = self.take(n)?.to_vec();
        String::from_utf8(bytes).map(Value::Text).map_err(|_| self.error("a string that is not UTF-8"))
    }

    /// Counts `nodes` new values against the budget.
    fn spend(&mut self, nodes: u64) -> Result<(), PickleError> {
        self.budget = self.budget.checked_sub(nodes).ok_or_else(|| {
            self.error(format!("the pickle builds more values than {NODES_PER_BYTE} per byte; memo entries that copy each other?"))
        })?;
        Ok(())
    }

    fn push_slot(&mut self, slot: Slot) -> Result<(), PickleError> {
        if self.stack.len() >= MAX_ITEMS {
            return Err(self.error("too many values"));
        }
        if slot.depth > MAX_DEPTH {
            return Err(self.error(format!("values nested more than {MAX_DEPTH} deep; a state dict nests a few")));
        }
        self.stack.push(slot);
        Ok(())
    }

    /// Pushes a value that holds no others.
    fn push(&mut self, value: Value) -> Result<(), PickleError> {
        self.spend(1)?;
        self.push_slot(Slot::leaf(value))
    }

    /// Pushes a container of `items` (made by `make` from their values).
    fn push_of(&mut self, items: Vec<Slot>, make: impl FnOnce(Vec<Value>) -> Result<Value, PickleError>) -> Result<(), PickleError> {
        self.spend(1)?;
        let (depth, nodes) = items.iter().fold((0, 1), |(d, n), s| (d.max(s.depth + 1), n + s.nodes));
        let value = make(items.into_iter().map(|s| s.value).collect())?;
        self.push_slot(Slot { value, depth, nodes })
    }

    fn pop_slot(&mut self) -> Result<Slot, PickleError> {
        self.stack.pop().ok_or_else(|| self.error("the stack is empty"))
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        Ok(self.pop_slot()?.value)
    }

    /// The values above the topmost mark, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<Slot>, PickleError> {
        let mark = self.stack.iter().rposition(|s| s.value == Value::Mark).ok_or_else(|| self.error("no mark"))?;
        let items = self.stack.split_off(mark + 1);
        self.stack.pop();
        Ok(items)
    }

    /// Adds `items` to the container on top of the stack (`add` puts their values in it).
    fn add_to_top(&mut self, items: Vec<Slot>, add: impl FnOnce(&mut Value, Vec<Value>) -> Result<(), String>) -> Result<(), PickleError> {
        let (depth, nodes) = items.iter().fold((0, 0), |(d, n), s| (d.max(s.depth + 1), n + s.nodes));
        let Some(top) = self.stack.last_mut() else { return Err(self.error("the stack is empty")) };
        let outcome = add(&mut top.value, items.into_iter().map(|s| s.value).collect());
        top.depth = top.depth.max(depth);
        top.nodes += nodes;
        let depth = top.depth;
        outcome.map_err(|message| self.error(message))?;
        if depth > MAX_DEPTH {
            return Err(self.error(format!("values nested more than {MAX_DEPTH} deep; a state dict nests a few")));
        }
        Ok(())
    }

    fn global(&self, module: &str, name: &str) -> Result<Value, PickleError> {
        Global::known(module, name).map(Value::Global).ok_or_else(|| PickleError::Global(format!("{module}.{name}")))
    }

    /// Keeps a copy of the top of the stack (counted against the budget before it is made).
    fn memoize(&mut self, index: u32) -> Result<(), PickleError> {
        let nodes = self.stack.last().ok_or_else(|| self.error("nothing to memoize"))?.nodes;
        if self.memo.len() >= MAX_ITEMS {
            return Err(self.error("too many memo entries"));
        }
        self.spend(nodes)?;
        let top = self.stack.last().cloned().expect("checked above");
        self.memo.insert(index, top);
        Ok(())
    }

    /// Pushes a copy of a memo entry (counted against the budget before it is made).
    fn recall(&mut self, index: u64) -> Result<(), PickleError> {
        let entry = u32::try_from(index).ok().and_then(|i| self.memo.get(&i)).ok_or_else(|| self.error("an unknown memo entry"))?;
        self.spend(entry.nodes)?;
        let slot = self.memo[&(index as u32)].clone();
        self.push_slot(slot)
    }

    fn run(mut self) -> Result<Value, PickleError> {
        loop {
            let op = self.take(1)?[0];
            match op {
                0x80 => {
                    self.take(1)?; // PROTO
                }
                0x95 => {
                    self.take(8)?; // FRAME: its length only
                }
                b'.' => return self.pop(), // STOP
                b'(' => self.push(Value::Mark)?,
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'K' => {
                    let v = self.uint(1)? as i64;
                    self.push(Value::Int(v))?
                }
                b'M' => {
                    let v = self.uint(2)? as i64;
                    self.push(Value::Int(v))?
                }
                b'J' => {
                    let v = self.uint(4)? as u32 as i32 as i64;
                    self.push(Value::Int(v))?
                }
                0x8a => {
                    // LONG1: a little-endian two's complement integer of n bytes
                    let n = self.uint(1)? as usize;
                    if n > 8 {
                        return Err(self.error("an integer wider than 64 bits"));
                    }
                    let raw = self.uint(n)?;
                    let v = if n > 0 && n < 8 && raw >> (8 * n - 1) & 1 == 1 { (raw | (u64::MAX << (8 * n))) as i64 } else { raw as i64 };
                    self.push(Value::Int(v))?
                }
                b'G' => {
                    let bytes: [u8; 8] = self.take(8)?.try_into().expect("8 bytes");
                    self.push(Value::Float(f64::from_be_bytes(bytes)))?
                }
                b'X' => {
                    let n = self.uint(4)? as usize;
                    let v = self.text(n)?;
                    self.push(v)?
                }
                0x8c => {
                    let n = self.uint(1)? as usize;
                    let v = self.text(n)?;
                    self.push(v)?
                }
                0x8d => {
                    let n = self.uint(8)? as usize;
                    let v = self.text(n)?;
                    self.push(v)?
                }
                b'C' => {
                    let n = self.uint(1)? as usize;
                    let v = self.take(n)?.to_vec();
                    self.push(Value::Bytes(v))?
                }
                b'B' => {
                    let n = self.uint(4)? as usize;
                    let v = self.take(n)?.to_vec();
                    self.push(Value::Bytes(v))?
                }
                b')' => self.push(Value::Tuple(Vec::new()))?,
                b']' => self.push(Value::List(Vec::new()))?,
                b'}' => self.push(Value::Dict(Vec::new()))?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.push_of(items, |items| Ok(Value::Tuple(items)))?
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push_of(items, |items| Ok(Value::List(items)))?
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let at = self.at;
                    self.push_of(items, |items| pairs(items).map(Value::Dict).map_err(|message| PickleError::Invalid { at, message }))?
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err(self.error("the stack is too short for a tuple"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    if items.iter().any(|s| s.value == Value::Mark) {
                        return Err(self.error("a mark inside a tuple"));
                    }
                    self.push_of(items, |items| Ok(Value::Tuple(items)))?
                }
                b'q' => {
                    let i = self.uint(1)? as u32;
                    self.memoize(i)?
                }
                b'r' => {
                    let i = self.uint(4)? as u32;
                    self.memoize(i)?
                }
                0x94 => {
                    let i = self.memo.len() as u32; // MEMOIZE
                    self.memoize(i)?
                }
                b'h' => {
                    let i = self.uint(1)?;
                    self.recall(i)?
                }
                b'j' => {
                    let i = self.uint(4)?;
                    self.recall(i)?
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let global = self.global(&module, &name)?;
                    self.push(global)?
                }
                0x93 => {
                    // STACK_GLOBAL
                    let (name, module) = (self.pop()?, self.pop()?);
                    let (Value::Text(module), Value::Text(name)) = (module, name) else {
                        return Err(self.error("a global named by something other than strings"));
                    };
                    let global = self.global(&module, &name)?;
                    self.push(global)?
                }
                b'Q' => {
                    // BINPERSID: ('storage', storage type, key, location, numel)
                    let pid = self.pop()?;
                    let storage = self.storage(pid)?;
                    self.push(storage)?
                }
                b'R' => {
                    // What a call builds is a tensor or an empty dict: it holds no other value.
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let value = self.call(callable, args)?;
                    self.push(value)?
                }
                b'b' => {
                    // BUILD: an OrderedDict's state (its `_metadata`) is not needed.
                    self.pop()?;
                    match self.stack.last().map(|s| &s.value) {
                        Some(Value::Dict(_) | Value::Tensor(_)) => {}
                        _ => return Err(self.error("BUILD on something other than a dict or a tensor")),
                    }
                }
                b's' => {
                    let value = self.pop_slot()?;
                    let key = self.pop_slot()?;
                    self.add_to_top(vec![key, value], insert)?
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.add_to_top(items, insert)?
                }
                b'a' | b'e' => {
                    let items = if op == b'a' { vec![self.pop_slot()?] } else { self.pop_mark()? };
                    self.add_to_top(items, |top, items| match top {
                        Value::List(list) => {
                            list.extend(items);
                            Ok(())
                        }
                        _ => Err("APPEND to something other than a list".into()),
                    })?
                }
                other => return Err(self.error(format!("opcode 0x{other:02x}, which tensor checkpoints do not use"))),
            }
        }
    }

    fn storage(&self, pid: Value) -> Result<Value, PickleError> {
        let bad = || self.error("a persistent id that is not a tensor storage");
        let Value::Tuple(parts) = pid else { return Err(bad()) };
        match parts.as_slice() {
            [Value::Text(kind), Value::Global(Global::Storage(dtype)), Value::Text(key), Value::Text(_location), Value::Int(len)]
                if kind == "storage" && *len >= 0 =>
            {
                Ok(Value::Storage { key: key.clone(), dtype: *dtype, len: *len as u64 })
            }
            _ => Err(bad()),
        }
    }

    /// A known global applied to `args`: builds the value it stands for, runs nothing.
    fn call(&self, callable: Value, args: Value) -> Result<Value, PickleError> {
        let Value::Tuple(args) = args else { return Err(self.error("call arguments that are not a tuple")) };
        let sizes = |v: &Value| -> Option<Vec<usize>> {
            match v {
                Value::Tuple(items) => items.iter().map(|i| if let Value::Int(n) = i { usize::try_from(*n).ok() } else { None }).collect(),
                _ => None,
            }
        };
        match callable {
            Value::Global(Global::OrderedDict) if args.is_empty() => Ok(Value::Dict(Vec::new())),
            Value::Global(Global::RebuildTensor) => match args.as_slice() {
                [Value::Storage { key, dtype, len }, Value::Int(offset), shape, stride, ..] if *offset >= 0 => {
                    let (shape, stride) = (sizes(shape), sizes(stride));
                    let (Some(shape), Some(stride)) = (shape, stride) else {
                        return Err(self.error("a tensor's size or stride is not whole numbers"));
                    };
                    if shape.len() != stride.len() {
                        return Err(self.error("a tensor's size and stride differ in length"));
                    }
                    Ok(Value::Tensor(TensorRef {
                        key: key.clone(),
                        dtype: *dtype,
                        storage_len: *len,
                        offset: *offset as u64,
                        shape,
                        stride,
                    }))
                }
                _ => Err(self.error("a tensor rebuild without a storage, offset, size and stride")),
            },
            Value::Global(Global::RebuildParameter) => match args.into_iter().next() {
                Some(tensor @ Value::Tensor(_)) => Ok(tensor),
                _ => Err(self.error("a parameter rebuild without a tensor")),
            },
            _ => Err(self.error("a call of something other than a tensor checkpoint's constructor")),
        }
    }
}

/// Keys and values, one after the other, as pairs.
fn pairs(items: Vec<Value>) -> Result<Vec<(Value, Value)>, String> {
    if items.len() % 2 == 1 {
        return Err("a dict with a key and no value".into());
    }
    let mut items = items.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (items.next(), items.next()) {
        out.push((k, v));
    }
    Ok(out)
}

/// SETITEM(S): the keys and values `items` into the dict `top`.
fn insert(top: &mut Value, items: Vec<Value>) -> Result<(), String> {
    match top {
        Value::Dict(dict) => {
            dict.extend(pairs(items)?);
            Ok(())
        }
        _ => Err("SETITEM on something other than a dict".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_global_is_refused_by_name_before_anything_runs() {
        // cos\nsystem\n(S'echo owned'\ntR.  — protocol 0's classic
        let e = state_dict(b"cos\nsystem\n(S'echo owned'\ntR.").unwrap_err();
        assert_eq!(e, PickleError::Global("os.system".into()));
        assert!(e.to_string().contains("`os.system`") && e.to_string().contains("nothing was executed"));
        // The same by STACK_GLOBAL (protocol 4).
        let e = state_dict(b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.").unwrap_err();
        assert_eq!(e, PickleError::Global("builtins.eval".into()));
    }

    #[test]
    fn garbage_and_truncation_are_errors_with_a_position() {
        for bytes in [&b""[..], b"\x80", b"\x80\x02}q\x00(X\x05\x00\x00\x00ab", b"\xff", b"\x80\x02K\x01."] {
            let e = state_dict(bytes).unwrap_err();
            assert!(matches!(e, PickleError::Invalid { .. }), "{e}");
        }
    }

    /// A million tuples, each holding the last: refused at depth 101, not by the stack.
    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let mut pickle = b"\x80\x02)".to_vec();
        pickle.extend(std::iter::repeat_n(0x85, 1_000_000)); // TUPLE1
        pickle.push(b'.');
        let e = state_dict(&pickle).unwrap_err();
        assert_eq!(e.to_string(), "data.pkl, byte 104: values nested more than 100 deep; a state dict nests a few");
        // APPEND nests as deep.
        let mut pickle = b"\x80\x02]".to_vec();
        pickle.extend(std::iter::repeat_n(b']', 1_000));
        pickle.extend(std::iter::repeat_n(b'a', 1_000));
        assert!(state_dict(&pickle).unwrap_err().to_string().ends_with("values nested more than 100 deep; a state dict nests a few"));
    }

    /// Memo entries that are tuples of the one before, twice: each recall copies its entry,
    /// so 300 bytes would build 2^60 values. Refused within the budget, in a moment.
    #[test]
    fn memo_entries_that_copy_each_other_are_bounded() {
        let mut pickle = b"\x80\x02)q\x00".to_vec();
        for i in 0..60u8 {
            pickle.extend_from_slice(&[b'h', i, b'h', i, 0x86, b'q', i + 1]); // (m[i], m[i]) → m[i+1]
        }
        pickle.push(b'.');
        let started = std::time::Instant::now();
        let e = state_dict(&pickle).unwrap_err();
        assert!(e.to_string().ends_with("the pickle builds more values than 16 per byte; memo entries that copy each other?"), "{e}");
        assert!(started.elapsed().as_secs() < 2, "{:?}", started.elapsed());
    }
}
