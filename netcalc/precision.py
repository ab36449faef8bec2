"""The names contract §9 fixes for --dtype and --optimizer, and what they cost in bytes. No
imports: the CLI reads these choices at start-up."""

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}
DTYPES = tuple(DTYPE_BYTES)
# optimizer state in float32 copies of the params: momentum keeps one buffer, Adam/AdamW two
OPTIMIZER_COPIES = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}
OPTIMIZERS = tuple(OPTIMIZER_COPIES)
DEFAULT_DTYPE, DEFAULT_OPTIMIZER = "float32", "adam"
