//! `fastmask._core.ChatTokenizer`: the core's `ChatEncoder` and the vocabulary's int objects. Its
//! methods convert their arguments while attached, run the encoder with the interpreter
//! detached, and convert the results back.

use std::sync::Arc;

use minijinja::value::Value;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::conversations::{py_to_value, template_kwargs_from_py};
use super::id_objects::IdObjects;
use super::limits::{limits_dict, limits_from_py};
use super::mask_options::PyMaskOptions;
use super::options::{parse, MaxLength, ReturnTensors};
use super::{arrow_in, conversations, outputs};
use crate::error::catch_panic;
use crate::jinja::Span;
use crate::mask::{ChatEncoder, ErrorPolicy, RenderInputs, TokenizerDefaults};
use crate::runtime::phases::{timed, Phase};
use crate::runtime::pool;
use crate::{Backend, ChatTemplate, Clock, Error, Limits, Tokenizer};

/// The compiled template and tokenizer behind `fastmask.ChatTokenizer`; immutable, shared by
/// every thread that encodes with it.
#[pyclass(frozen, module = "fastmask._core", name = "ChatTokenizer")]
pub struct PyChatTokenizer {
    encoder: Arc<ChatEncoder>,
    /// The vocabulary's int objects for list outputs; shared like the tokenizer.
    ids: Arc<IdObjects>,
}

#[pymethods]
impl PyChatTokenizer {
    #[new]
    #[pyo3(signature = (tokenizer_json, chat_template, **settings))]
    fn new(
        py: Python<'_>,
        tokenizer_json: &str,
        chat_template: &str,
        settings: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let settings = Settings::from_py(settings)?;
        let Settings { special_tokens, pad_token, clock, backend, limits, defaults } = settings;
        let encoder = py.detach(|| -> crate::Result<ChatEncoder> {
            // On a worker-sized stack: a hostile template must not depend on the caller's stack size.
            let template = pool::on_large_stack(|| ChatTemplate::compile_with_limits(chat_template, clock, limits))?;
            let tokenizer = Arc::new(Tokenizer::from_json(tokenizer_json, backend)?);
            let encoder = ChatEncoder::new(template, tokenizer, special_tokens, pad_token.as_deref(), defaults)?;
            // Only once nothing can fail: a refused construction leaves no build behind.
            encoder.tokenizer.load_engine_in_background();
            Ok(encoder)
        })?;
        let ids = Arc::new(IdObjects::new(Arc::clone(&encoder.tokenizer)));
        Ok(PyChatTokenizer { encoder: Arc::new(encoder), ids })
    }

    /// The same tokenizer, special tokens, pad token and defaults with another template.
    #[pyo3(signature = (chat_template, *, now=None))]
    fn with_chat_template(&self, py: Python<'_>, chat_template: &str, now: Option<&str>) -> PyResult<Self> {
        let clock = clock(now)?;
        let limits = *self.encoder.template.limits();
        let template =
            py.detach(|| pool::on_large_stack(|| ChatTemplate::compile_with_limits(chat_template, clock, limits)))?;
        let encoder = Arc::new(self.encoder.with_template(template));
        Ok(PyChatTokenizer { encoder, ids: Arc::clone(&self.ids) })
    }

    /// Whether the template marks assistant text with `{% generation %}`.
    #[getter]
    fn has_generation(&self) -> bool {
        self.encoder.template.has_generation()
    }

    /// The backend that encodes: "tokenizers1" (tokenizers 1.0, src/tokenizer/pipeline), "fast"
    /// (the byte-level BPE of src/tokenizer/bpe) or "tokenizers" (0.23). Waits for the engine.
    #[getter]
    fn backend(&self, py: Python<'_>) -> PyResult<&'static str> {
        let tokenizer = &self.encoder.tokenizer;
        Ok(py.detach(|| catch_panic(|| tokenizer.backend_name()))?)
    }

    /// The limits templates and inputs are held to, as a dict (see `fastmask.Limits`).
    #[getter]
    fn limits<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        limits_dict(py, self.encoder.template.limits())
    }

    /// The tokenizer's added tokens as (content, special), in id order.
    #[getter]
    fn added_tokens(&self) -> Vec<(String, bool)> {
        self.encoder.tokenizer.added_tokens()
    }

    /// The id padding uses, or None.
    #[getter]
    fn pad_token_id(&self) -> Option<u32> {
        self.encoder.pad_id
    }

    #[pyo3(signature = (conversations, *, add_generation_prompt=false, tools=None, documents=None, template_kwargs=None, options=None))]
    fn render_batch<'py>(
        &self,
        conversations: &Bound<'py, PyAny>,
        add_generation_prompt: bool,
        tools: Option<&Bound<'py, PyAny>>,
        documents: Option<&Bound<'py, PyAny>>,
        template_kwargs: Option<&Bound<'py, PyDict>>,
        options: Option<&Bound<'py, PyMaskOptions>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let py = conversations.py();
        let options = PyMaskOptions::given(options);
        let limits = self.encoder.template.limits();
        let conversations = arrow_in::conversations(py, conversations, limits, options.call.threads)?;
        let inputs = render_inputs(add_generation_prompt, tools, documents, template_kwargs, limits)?;
        let (encoder, call) = (&self.encoder, &options.call);
        if call.expand_turns {
            let rows = py.detach(|| catch_panic(|| encoder.render_turn_rows(&conversations, &inputs, call)))?;
            let items = rows.into_iter().enumerate().flat_map(|(conversation, turns)| {
                turns.into_iter().map(move |(turn, r)| (r.text, char_spans(&r.spans), conversation, turn))
            });
            return PyList::new(py, items);
        }
        let rendered = py.detach(|| catch_panic(|| encoder.render_batch(&conversations, &inputs, call)))?;
        PyList::new(py, rendered.into_iter().map(|r| (r.text, char_spans(&r.spans))))
    }

    #[pyo3(signature = (conversations, *, add_generation_prompt=false, tools=None, documents=None, template_kwargs=None, options=None))]
    fn encode_batch<'py>(
        &self,
        conversations: &Bound<'py, PyAny>,
        add_generation_prompt: bool,
        tools: Option<&Bound<'py, PyAny>>,
        documents: Option<&Bound<'py, PyAny>>,
        template_kwargs: Option<&Bound<'py, PyDict>>,
        options: Option<&Bound<'py, PyMaskOptions>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let py = conversations.py();
        let options = &PyMaskOptions::given(options).call;
        let limits = self.encoder.template.limits();
        let inputs = render_inputs(add_generation_prompt, tools, documents, template_kwargs, limits)?;
        let (encoder, threads) = (&self.encoder, options.threads);
        let keep_going = options.on_error != ErrorPolicy::Raise;
        let batch = match arrow_in::source(conversations)? {
            arrow_in::Source::Objects(objects) => {
                let items = conversations::batch_items(&objects)?;
                let produce = |send: &mut dyn FnMut(crate::Result<conversations::PlainConversation>)| {
                    Python::attach(|py| {
                        for (index, item) in items.iter().enumerate() {
                            let converted =
                                timed(Phase::Convert, || conversations::conversation_at(item.bind(py), index, limits));
                            match converted {
                                Err(err) if !keep_going => return Err(err),
                                converted => send(converted),
                            }
                        }
                        Ok(())
                    })
                };
                py.detach(|| catch_panic(|| encoder.encode_produced(items.len(), produce, &inputs, options)))?
            }
            arrow_in::Source::Arrow(column) => py.detach(|| {
                catch_panic(|| {
                    if keep_going {
                        let conversations = timed(Phase::Convert, || column.read_each(limits, threads))?;
                        encoder.encode_batch(&conversations, &inputs, options)
                    } else {
                        let conversations = timed(Phase::Convert, || column.read_all(limits, threads))?;
                        encoder.encode_batch(&conversations, &inputs, options)
                    }
                })
            })?,
        };
        let out = timed(Phase::Output, || outputs::to_py(py, &batch.rows, &self.encoder, options, &self.ids))?;
        if options.expand_turns {
            outputs::origins_to_py(&out, &batch.origins, options.layout)?;
        }
        if keep_going {
            out.set_item("errors", outputs::errors_to_py(py, batch.errors)?)?;
        }
        Ok(out)
    }

    #[pyo3(signature = (texts, *, options=None))]
    fn encode_texts<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
        options: Option<&Bound<'py, PyMaskOptions>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let options = PyMaskOptions::given(options);
        if options.return_tensors == ReturnTensors::Arrow {
            return Err(
                Error::input("return_tensors must be None, 'np', 'pt' or 'arrow' (encode_batch), got 'arrow'").into()
            );
        }
        let (encoder, options) = (&self.encoder, &options.call);
        let encoded = py.detach(|| catch_panic(|| encoder.encode_texts(&texts, options)))?;
        outputs::to_py(py, &encoded, &self.encoder, options, &self.ids)
    }
}

#[cfg(feature = "test-hooks")]
impl PyChatTokenizer {
    pub(super) fn engine_is_built(&self) -> bool {
        self.encoder.tokenizer.engine_is_built()
    }
}

/// `(start_char, end_char)` of each span, as transformers' generation indices.
fn char_spans(spans: &[Span]) -> Vec<(usize, usize)> {
    spans.iter().map(|s| (s.start_char, s.end_char)).collect()
}

/// The keywords `_core.ChatTokenizer(tokenizer_json, chat_template, **settings)` takes.
struct Settings {
    special_tokens: Vec<(String, Value)>,
    pad_token: Option<String>,
    clock: Clock,
    backend: Backend,
    limits: Limits,
    defaults: TokenizerDefaults,
}

impl Settings {
    fn from_py(settings: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let (mut special_tokens, mut limits, mut now) = (None, None, None);
        let (mut pad_token, mut backend, mut defaults) = (None, Backend::default(), TokenizerDefaults::default());
        for (key, value) in settings.iter().flat_map(|dict| dict.iter()) {
            match key.extract::<String>().as_deref() {
                Ok("special_tokens") => special_tokens = value.extract::<Option<Bound<'_, PyDict>>>()?,
                Ok("pad_token") => pad_token = value.extract()?,
                Ok("now") => now = value.extract::<Option<String>>()?,
                Ok("backend") => backend = value.extract()?,
                Ok("limits") => limits = value.extract::<Option<Bound<'_, PyDict>>>()?,
                Ok(name @ "padding_side") => defaults.padding_side = parse(&value, name)?,
                Ok(name @ "truncation_side") => defaults.truncation_side = parse(&value, name)?,
                Ok("model_max_length") => defaults.model_max_length = model_max_length(&value)?,
                _ => {
                    let name = key.repr()?;
                    return Err(PyTypeError::new_err(format!(
                        "ChatTokenizer() got an unexpected keyword argument {name}"
                    )));
                }
            }
        }
        let limits = limits_from_py(limits.as_ref())?;
        let special_tokens = match special_tokens {
            Some(dict) => template_kwargs_from_py(&dict, &limits)?,
            None => Vec::new(),
        };
        Ok(Settings { special_tokens, pad_token, clock: clock(now.as_deref())?, backend, limits, defaults })
    }
}

/// transformers' `model_max_length`: an int, where 10**20 and above (its `VERY_LARGE_INTEGER`)
/// mean no limit.
fn model_max_length(value: &Bound<'_, PyAny>) -> PyResult<Option<usize>> {
    if value.is_none() || value.ge(1e20)? {
        return Ok(None);
    }
    Ok(parse::<MaxLength>(value, "model_max_length")?.0)
}

/// `now` as an ISO date-time pins `strftime_now`; None reads the local clock.
fn clock(now: Option<&str>) -> Result<Clock, Error> {
    match now {
        Some(text) => chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .map(Clock::Pinned)
            .map_err(|err| Error::input(format!("now must be an ISO date-time: {err}"))),
        None => Ok(Clock::Local),
    }
}

fn render_inputs(
    add_generation_prompt: bool,
    tools: Option<&Bound<'_, PyAny>>,
    documents: Option<&Bound<'_, PyAny>>,
    template_kwargs: Option<&Bound<'_, PyDict>>,
    limits: &Limits,
) -> PyResult<RenderInputs> {
    let convert =
        |value: Option<&Bound<'_, PyAny>>, name: &str| -> PyResult<Value> {
            match value {
                Some(v) => Ok(py_to_value(v, limits)
                    .map_err(|err| Error { message: format!("{name}: {}", err.message), ..err })?),
                None => Ok(Value::from(())),
            }
        };
    Ok(RenderInputs {
        add_generation_prompt,
        tools: convert(tools, "tools")?,
        documents: convert(documents, "documents")?,
        template_kwargs: match template_kwargs {
            Some(dict) => template_kwargs_from_py(dict, limits)?,
            None => Vec::new(),
        },
    })
}
