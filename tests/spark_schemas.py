"""Spark's types for every schema of ``pipelines.core.schemas``, under the same names: the
Spark tests build their frames with these (``from spark_schemas import CHAT_MESSAGES``).
"""

from __future__ import annotations

import pyarrow as pa

from pipelines.core import schemas
from pipelines.transforms.common import spark_type

globals().update(
    {n: spark_type(v) for n, v in vars(schemas).items() if isinstance(v, pa.Schema | pa.DataType)}
)
EVENT_SCHEMAS = {t: spark_type(s) for t, s in schemas.EVENT_SCHEMAS.items()}
