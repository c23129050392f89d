// Alarms and the dashboard of one stage. Every name carries the stage, and the registrar's own
// metrics are read with the stage's `service` dimension (POWERTOOLS_SERVICE_NAME, which
// serverless.yml sets to <service>-<stage>), so dev and prod in one account never share a metric,
// an alarm or a widget. The dead-letter, renew-failure and fail-open alarms are in resources.yml.
//
// An event function (invoked per event, retried, dead-lettered) gets Errors, Throttles and
// AsyncEventAge alarms: add one to EVENT_FUNCTIONS (its name as in serverless.yml).
//
// serverless.yml: `resources: ${file(./infra/observability.cjs):resources}`.
const EVENT_FUNCTIONS = ['register', 'deregister'];

/** etcd latency (p99 of every etcd request, ms) that counts as slow, for 5 minutes in a row. */
const ETCD_P99_LIMIT_MS = 1000;
/** Events waiting in Lambda's async queue this long (ms) mean registrations lag behind ECS. */
const ASYNC_EVENT_AGE_LIMIT_MS = 5 * 60 * 1000;

const pascal = (fn) => `${fn[0].toUpperCase()}${fn.slice(1).replace(/-/g, 'Dash').replace(/_/g, 'Underscore')}`;

/** One alarm; every alarm notifies the stack's topic and treats no data as fine unless told. */
function alarm(name, description, metric) {
  return {
    Type: 'AWS::CloudWatch::Alarm',
    Properties: {
      AlarmName: name,
      AlarmDescription: description,
      Period: 60,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: 'AlarmTopic' }],
      ...metric,
    },
  };
}

/** The Errors, Throttles and AsyncEventAge alarms of one event function. */
function eventFunctionAlarms(fn, prefix) {
  const id = pascal(fn);
  const dimensions = [{ Name: 'FunctionName', Value: { Ref: `${id}LambdaFunction` } }];
  const lambda = (metric, statistic) => ({
    Namespace: 'AWS/Lambda',
    MetricName: metric,
    Dimensions: dimensions,
    Statistic: statistic,
  });
  return {
    [`${id}ErrorsAlarm`]: alarm(
      `${prefix}-${fn}-errors`,
      `${fn} failed in 3 of the last 5 minutes. Failed events are retried (then dead-lettered), so nothing is lost yet, but registrations lag: read the "${fn} failed" log lines (errorName, retryable) for the cause, usually etcd.`,
      { ...lambda('Errors', 'Sum'), EvaluationPeriods: 5, DatapointsToAlarm: 3, Threshold: 0 },
    ),
    [`${id}ThrottlesAlarm`]: alarm(
      `${prefix}-${fn}-throttled`,
      `${fn} was throttled every minute for 10 minutes: more events arrive than its reserved concurrency handles. They wait in Lambda's async queue (up to 6 h); a short burst during a deploy is expected, a lasting one needs more reserved concurrency or ingest=sqs.`,
      { ...lambda('Throttles', 'Sum'), EvaluationPeriods: 10, Threshold: 0 },
    ),
    [`${id}AsyncEventAgeAlarm`]: alarm(
      `${prefix}-${fn}-event-age`,
      `${fn}'s events waited over ${ASYNC_EVENT_AGE_LIMIT_MS / 60000} minutes in Lambda's async queue for 3 minutes: ECS changes reach etcd that late. Look for throttles and errors of ${fn}.`,
      { ...lambda('AsyncEventAge', 'Maximum'), EvaluationPeriods: 3, Threshold: ASYNC_EVENT_AGE_LIMIT_MS },
    ),
  };
}

/** The dashboard's widgets: renew summary, registrations, removals, fail-open, etcd latency, the functions. */
function dashboardBody(namespace, service, functions) {
  const own = (metric, options = {}) => [namespace, metric, 'service', service, options];
  const widget = (title, metrics, extra = {}) => ({
    type: 'metric',
    width: 12,
    height: 6,
    properties: { title, region: '${AWS::Region}', view: 'timeSeries', stat: 'Sum', period: 60, metrics, ...extra },
  });
  const perFunction = (metric, stat) =>
    functions.map((fn) => [
      'AWS/Lambda',
      metric,
      'FunctionName',
      `\${${pascal(fn)}}`,
      { stat, label: `${fn} ${metric}` },
    ]);
  return {
    widgets: [
      widget('Renew: every tick', [
        own('Renewed'),
        own('RepairedByReconcile'),
        own('RenewTaskFailures'),
        own('EcsFailures'),
        [
          'AWS/Lambda',
          'Duration',
          'FunctionName',
          '${Renew}',
          { stat: 'Maximum', label: 'tick duration (ms)', yAxis: 'right' },
        ],
      ]),
      widget('Registrations', [own('Registered'), own('HeldBackPending'), own('IgnoredStale')]),
      widget('Removals', [own('Deregistered'), own('Withdrawn')]),
      widget('Fail-open: leases renewed without ECS', [own('FailOpenRenewed')]),
      widget('Health-checked tasks: follow-up and drain checks', [
        own('FollowUpsStarted'),
        own('FollowUpPublished'),
        own('FollowUpWithdrawn'),
        own('FollowUpGaveUp'),
        own('FollowUpRejected'),
        own('FollowUpFailed'),
        own('DrainPublished'),
        own('DrainCheckFailures'),
      ]),
      widget('etcd latency per request (ms)', [
        own('EtcdLatency', { stat: 'p50' }),
        own('EtcdLatency', { stat: 'p99' }),
        own('EtcdLatency', { stat: 'Maximum' }),
      ]),
      widget('Functions: errors and throttles', [...perFunction('Errors', 'Sum'), ...perFunction('Throttles', 'Sum')]),
    ],
  };
}

async function resources({ resolveVariable, resolveConfigurationProperty }) {
  const service = await resolveVariable('self:service');
  const stage = await resolveVariable('sls:stage');
  const metricsService = await resolveVariable('self:provider.environment.POWERTOOLS_SERVICE_NAME');
  const namespace = await resolveVariable('self:provider.environment.POWERTOOLS_METRICS_NAMESPACE');
  const prefix = `${service}-${stage}`;
  const functions = Object.keys((await resolveConfigurationProperty(['functions'])) ?? {});
  for (const fn of EVENT_FUNCTIONS)
    if (!functions.includes(fn))
      throw new Error(`EVENT_FUNCTIONS (infra/observability.cjs) names ${fn}, which serverless.yml does not define`);
  const Resources = {};
  for (const fn of EVENT_FUNCTIONS) Object.assign(Resources, eventFunctionAlarms(fn, prefix));
  Resources.EtcdLatencyAlarm = alarm(
    `${prefix}-etcd-slow`,
    `The p99 of etcd requests stayed above ${ETCD_P99_LIMIT_MS} ms for 5 minutes (every etcd call has a 5 s deadline). Check etcd's disk and network latency and its leader changes before calls start failing.`,
    {
      Namespace: namespace,
      MetricName: 'EtcdLatency',
      Dimensions: [{ Name: 'service', Value: metricsService }],
      ExtendedStatistic: 'p99',
      EvaluationPeriods: 5,
      Threshold: ETCD_P99_LIMIT_MS,
    },
  );
  Resources.Dashboard = {
    Type: 'AWS::CloudWatch::Dashboard',
    Properties: {
      DashboardName: prefix,
      DashboardBody: {
        'Fn::Sub': [
          JSON.stringify(dashboardBody(namespace, metricsService, functions)),
          Object.fromEntries(functions.map((fn) => [pascal(fn), { Ref: `${pascal(fn)}LambdaFunction` }])),
        ],
      },
    },
  };
  return { Resources };
}

module.exports = { EVENT_FUNCTIONS, resources };
