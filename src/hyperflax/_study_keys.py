"""Every key hyperflax stores in an Optuna study, named once.

Study user attributes describe the search; trial user attributes record who runs a trial,
what the tuner planned for it and how it ended. Tuners, trackers and the command line read
them through these names only.
"""

# -- study user attributes ------------------------------------------------------------------
OBJECTIVE = "hx:objective"  # the objective's metric name
DIRECTION = "hx:direction"  # "minimize" or "maximize"
TUNER = "hx:tuner"  # the tuner class that created the study
AUTOML_FINGERPRINT = "hx:automl:fingerprint"  # the data and settings an AutoML study was made for
WORKERS = "hx:workers"  # how many searches (workers, resumes) have joined the study
SEARCHED = "hx:searched"  # what the study searches: the objective function or model builder
EXPORT = "hx:export"  # how `hyperflax export` rebuilds a model: builder, input spec, task, seed

# -- trial user attributes ------------------------------------------------------------------
OWNER = "hx:owner"  # "host:pid:start" of the worker running the trial; written first
HEARTBEAT = "hx:heartbeat"  # time.time() of the owner's last sign of life
ERROR = "hx:error"  # "ExceptionType: message" of a failed trial
RETRY_OF = "hx:retry_of"  # the number of the interrupted trial this one retries
METRICS = "hx:metrics"  # every metric of the trial's result (best epoch for a model)
DEVICES = "hx:devices"  # the devices a model trained on
PLAN = "hx:plan"  # the tuner's TrialPlan for the trial (epochs, continued trial, ...)
CLASSES = "hx:classes"  # the label of each class id when a search converted text/bool labels
HISTORY = "hx:history"  # every reported step's metrics: {"step": [...], "<metric>": [...]}

#: Trial attributes that describe how hyperflax ran a trial rather than what the user logged.
BOOKKEEPING = frozenset(
    {OWNER, HEARTBEAT, ERROR, RETRY_OF, METRICS, DEVICES, PLAN, HISTORY, CLASSES}
)
