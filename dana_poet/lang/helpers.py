"""Names the generated code uses for the runtime's helpers and scope dictionaries.

The compiler writes these names into the code it generates and the runtime binds them
in each module's globals; both import them from here, so running cached code never
imports the compiler.
"""

from __future__ import annotations

# bound in runtime.module_globals
H_LOOKUP = "__dana_lookup"
H_ADD = "__dana_add"
H_ATTR = "__dana_attr"
H_COERCE = "__dana_coerce"
H_EXC = "__dana_exc"
H_CAUGHT = "__dana_caught"
H_ASSERT = "__dana_assert_failed"
H_RECEIVER = "__dana_receiver"
H_GLOBALS = "__dana_globals"
H_AUG_ITEM = "__dana_aug_item"
H_AUG_ATTR = "__dana_aug_attr"
H_VIVIFY = "__dana_vivify"
H_SET_FIELD = "__dana_set_field"
H_METHOD = "__dana_method"
H_PYTYPE = "__dana_pytype"
H_PYSTR = "__dana_pystr"
H_REITERABLE = "__dana_reiterable"
# attribute of a receiver function: its copy compiled for a receiver of exactly its struct
EXACT_METHOD = "__dana_exact__"
# attribute of a struct class: creates a checked instance (see structs._constructor)
MAKE = "__dana_make"
SCOPE_DICTS = {"private": "__dana_private", "public": "__dana_public", "system": "__dana_system"}

# declarations
H_TYPE = "__dana_t"
H_TYPE_VALUE = "__dana_tv"
H_UNION = "__dana_tu"
H_STRUCT = "__dana_struct"
H_AGENT = "__dana_agent"
H_INTERFACE = "__dana_interface"
H_IMPORT = "__dana_import"
H_IMPORT_FROM = "__dana_import_from"
H_IMPORT_STAR = "__dana_import_star"

# pipelines
H_PIPE_ARGS = "__dana_pipe_call"
H_STAGE = "__dana_stage"
