"""Operations: health and readiness probes, Prometheus metrics, OpenTelemetry traces
and JSON access logs for an app.

::

    from chainserve.ops import add_operations

    add_operations(app)  # /health, /ok, /ready, /metrics; traces if OTEL_* say so

``chainserve serve`` does the same for the app it serves. Metrics and traces need
``pip install "chainserve[ops]"`` (prometheus-client, the OpenTelemetry SDK and its
OTLP exporter), imported only when an app uses them.
"""

from chainserve.ops.health import CHECK_TIMEOUT, add_readiness_check
from chainserve.ops.operations import EXCLUDED, TRACE_VARIABLES, add_operations

__all__ = ["CHECK_TIMEOUT", "EXCLUDED", "TRACE_VARIABLES", "add_operations", "add_readiness_check"]
