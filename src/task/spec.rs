//! What a run makes of a task file: its type, forced or inferred from the columns, and its
//! few-shot prompts. The CLI, the worker and the page's preview all load tasks through it, so
//! the preview shows exactly the prompts that are scored.

use super::{few_shot, parse_task, FewShot, Task, TaskError, TaskType};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaskSpec {
    /// The type to score the task as; `None` infers it from the columns.
    #[serde(default)]
    pub task_type: Option<TaskType>,
    /// Demonstrations before each prompt; `None` (or 0 shots) for zero-shot.
    #[serde(default)]
    pub few_shot: Option<FewShot>,
}

impl TaskSpec {
    /// Parses `bytes` (CSV, JSONL, JSON or Parquet) and builds the few-shot prompts.
    pub fn load(&self, bytes: &[u8]) -> Result<Task, TaskError> {
        let task = parse_task(bytes, self.task_type)?;
        match self.few_shot.filter(|settings| settings.shots > 0) {
            Some(settings) => few_shot(&task, settings),
            None => Ok(task),
        }
    }

    /// The few-shot settings a run records (none for zero-shot).
    pub fn shots(&self) -> Option<FewShot> {
        self.few_shot.filter(|settings| settings.shots > 0)
    }
}
