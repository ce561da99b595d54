//! `fastmask._core.ChatTokenizer`: the compiled template and tokenizer. Its methods convert
//! their arguments while attached, run the core with the interpreter detached, and convert the
//! results back.

use std::sync::Arc;

use minijinja::value::Value;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::conversations::{encode_options, py_to_value, template_kwargs_from_py, PyMaskOptions};
use super::layout::Layout;
use super::limits::{limits_dict, limits_from_py};
use super::{arrow_in, conversations, id_objects, skip};
use crate::error::catch_panic;
use crate::mask::conversation::RenderInputs;
use crate::mask::encoder;
use crate::runtime::pool;
use crate::{Backend, ChatTemplate, Clock, Error, Tokenizer};

/// Everything a ChatTokenizer holds; immutable, shared by every thread that encodes with it.
pub struct Core {
    pub template: ChatTemplate,
    /// Shared by the ChatTokenizers `with_chat_template` derives: loading a vocabulary is the slow part.
    pub tokenizer: Arc<Tokenizer>,
    pub special_tokens: Vec<(String, Value)>,
    pub pad_id: Option<u32>,
    /// The vocabulary's int objects for list outputs; shared like the tokenizer.
    pub ids: Arc<id_objects::IdObjects>,
}

/// The compiled template and tokenizer behind `fastmask.ChatTokenizer`.
#[pyclass(frozen, module = "fastmask._core", name = "ChatTokenizer")]
pub struct PyChatTokenizer {
    core: Arc<Core>,
}

#[pymethods]
impl PyChatTokenizer {
    #[new]
    #[pyo3(signature = (tokenizer_json, chat_template, *, special_tokens=None, pad_token=None, now=None, backend="auto", limits=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        tokenizer_json: &str,
        chat_template: &str,
        special_tokens: Option<&Bound<'_, PyDict>>,
        pad_token: Option<&str>,
        now: Option<&str>,
        backend: &str,
        limits: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let backend: Backend = backend.parse()?;
        let limits = limits_from_py(limits)?;
        let special_tokens = match special_tokens {
            Some(dict) => template_kwargs_from_py(dict, &limits)?,
            None => Vec::new(),
        };
        let clock = clock(now)?;
        let core = py.detach(|| -> crate::Result<Core> {
            // On a worker-sized stack: a hostile template must not depend on the caller's stack size.
            let template = pool::on_large_stack(|| ChatTemplate::compile_with_limits(chat_template, clock, limits))?;
            let tokenizer = Tokenizer::from_json(tokenizer_json, backend)?;
            let pad_id = pad_token
                .map(|token| {
                    tokenizer
                        .token_to_id(token)
                        .ok_or_else(|| Error::tokenizer(format!("pad token {token:?} is not in the vocabulary")))
                })
                .transpose()?;
            let ids = Arc::new(id_objects::IdObjects::new(tokenizer.id_end()));
            Ok(Core { template, tokenizer: Arc::new(tokenizer), special_tokens, pad_id, ids })
        })?;
        Ok(PyChatTokenizer { core: Arc::new(core) })
    }

    /// The same tokenizer, special tokens and pad token with another template.
    #[pyo3(signature = (chat_template, *, now=None))]
    fn with_chat_template(&self, py: Python<'_>, chat_template: &str, now: Option<&str>) -> PyResult<Self> {
        let clock = clock(now)?;
        let limits = *self.core.template.limits();
        let template =
            py.detach(|| pool::on_large_stack(|| ChatTemplate::compile_with_limits(chat_template, clock, limits)))?;
        let core = Core {
            template,
            tokenizer: Arc::clone(&self.core.tokenizer),
            special_tokens: self.core.special_tokens.clone(),
            pad_id: self.core.pad_id,
            ids: Arc::clone(&self.core.ids),
        };
        Ok(PyChatTokenizer { core: Arc::new(core) })
    }

    /// Whether the template marks assistant text with `{% generation %}`.
    #[getter]
    fn has_generation(&self) -> bool {
        self.core.template.has_generation()
    }

    /// The backend that encodes: "fast" (the byte-level BPE of src/tokenizer/bpe) or "tokenizers".
    #[getter]
    fn backend(&self) -> &'static str {
        self.core.tokenizer.backend_name()
    }

    /// The limits templates and inputs are held to, as a dict (see `fastmask.Limits`).
    #[getter]
    fn limits<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        limits_dict(py, self.core.template.limits())
    }

    /// The tokenizer's added tokens as (content, special), in id order.
    #[getter]
    fn added_tokens(&self) -> Vec<(String, bool)> {
        self.core.tokenizer.added_tokens()
    }

    /// The id padding uses, or None.
    #[getter]
    fn pad_token_id(&self) -> Option<u32> {
        self.core.pad_id
    }

    #[pyo3(signature = (conversations, *, add_generation_prompt=false, tools=None, documents=None, template_kwargs=None, num_threads=None, masks=None))]
    #[allow(clippy::too_many_arguments)]
    fn render_batch<'py>(
        &self,
        py: Python<'py>,
        conversations: &Bound<'py, PyAny>,
        add_generation_prompt: bool,
        tools: Option<&Bound<'py, PyAny>>,
        documents: Option<&Bound<'py, PyAny>>,
        template_kwargs: Option<&Bound<'py, PyDict>>,
        num_threads: Option<usize>,
        masks: Option<PyMaskOptions>,
    ) -> PyResult<Bound<'py, PyList>> {
        let conversations = arrow_in::conversations(py, conversations, self.core.template.limits(), num_threads)?;
        let inputs =
            render_inputs(add_generation_prompt, tools, documents, template_kwargs, self.core.template.limits())?;
        let plan = masks.map(|m| m.plan).unwrap_or_default();
        let core = &self.core;
        let rendered = py.detach(|| {
            catch_panic(|| {
                encoder::render_batch(&core.template, &conversations, &inputs, &core.special_tokens, &plan, num_threads)
            })
        })?;
        let items = rendered.into_iter().map(|r| {
            let spans: Vec<(usize, usize)> = r.spans.iter().map(|s| (s.start_char, s.end_char)).collect();
            (r.text, spans)
        });
        PyList::new(py, items)
    }

    #[pyo3(signature = (conversations, *, add_generation_prompt=false, tools=None, documents=None,
        template_kwargs=None, max_length=None, truncation=false, truncation_side="right", padding="do_not_pad",
        padding_side="right", ignore_index=-100, as_arrays=false, num_threads=None, masks=None, on_error="raise",
        as_arrow=false, sanitize_control_tokens=false))]
    #[allow(clippy::too_many_arguments)]
    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        conversations: &Bound<'py, PyAny>,
        add_generation_prompt: bool,
        tools: Option<&Bound<'py, PyAny>>,
        documents: Option<&Bound<'py, PyAny>>,
        template_kwargs: Option<&Bound<'py, PyDict>>,
        max_length: Option<usize>,
        truncation: bool,
        truncation_side: &str,
        padding: &str,
        padding_side: &str,
        ignore_index: i64,
        as_arrays: bool,
        num_threads: Option<usize>,
        masks: Option<PyMaskOptions>,
        on_error: &str,
        as_arrow: bool,
        sanitize_control_tokens: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let layout = Layout::new(as_arrays, as_arrow);
        let policy = skip::ErrorPolicy::parse(on_error)?;
        let plan = masks.map(|m| m.plan).unwrap_or_default();
        let inputs =
            render_inputs(add_generation_prompt, tools, documents, template_kwargs, self.core.template.limits())?;
        let mut options = encode_options(
            max_length,
            truncation,
            truncation_side,
            padding,
            padding_side,
            ignore_index,
            self.core.pad_id,
        )?;
        options.sanitize_control_tokens = sanitize_control_tokens;
        if policy == skip::ErrorPolicy::Skip {
            let converted = arrow_in::conversations_each(py, conversations, self.core.template.limits(), num_threads)?;
            return skip::encode_skipping(py, &self.core, converted, &inputs, &options, &plan, num_threads, layout);
        }
        let core_options = layout.core_options(&options)?;
        let core = &self.core;
        let context = encoder::EncodeContext {
            template: &core.template,
            tokenizer: &core.tokenizer,
            inputs: &inputs,
            special_tokens: &core.special_tokens,
            options: &core_options,
        };
        let limits = core.template.limits();
        let encoded = match arrow_in::source(conversations)? {
            arrow_in::Source::Objects(objects) => {
                let items = conversations::batch_items(&objects)?;
                py.detach(|| {
                    catch_panic(|| {
                        encoder::encode_produced(&context, &plan, num_threads, items.len(), |send| {
                            Python::attach(|py| {
                                for (index, item) in items.iter().enumerate() {
                                    send(conversations::conversation_at(item.bind(py), index, limits)?);
                                }
                                Ok(())
                            })
                        })
                    })
                })?
            }
            arrow_in::Source::Arrow(column) => py.detach(|| {
                catch_panic(|| {
                    let conversations = column.read_all(limits, num_threads)?;
                    encoder::encode_batch(
                        &core.template,
                        &core.tokenizer,
                        &conversations,
                        &inputs,
                        &core.special_tokens,
                        &core_options,
                        &plan,
                        num_threads,
                    )
                })
            })?,
        };
        layout.outputs_to_py(py, &encoded, &options, num_threads, &core.ids)
    }

    #[pyo3(signature = (texts, *, max_length=None, truncation=false, truncation_side="right", padding="do_not_pad",
        padding_side="right", as_arrays=false, num_threads=None))]
    #[allow(clippy::too_many_arguments)]
    fn encode_texts<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
        max_length: Option<usize>,
        truncation: bool,
        truncation_side: &str,
        padding: &str,
        padding_side: &str,
        as_arrays: bool,
        num_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let options =
            encode_options(max_length, truncation, truncation_side, padding, padding_side, -100, self.core.pad_id)?;
        let layout = Layout::new(as_arrays, false);
        let core_options = layout.core_options(&options)?;
        let core = &self.core;
        let encoded =
            py.detach(|| catch_panic(|| encoder::encode_texts(&core.tokenizer, &texts, &core_options, num_threads)))?;
        layout.outputs_to_py(py, &encoded, &options, num_threads, &core.ids)
    }
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
    limits: &crate::Limits,
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
