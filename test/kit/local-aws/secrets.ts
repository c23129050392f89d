/**
 * The local secret stores: Secrets Manager's GetSecretValue and SSM's GetParameter(s), answered
 * from values the test sets (the etcd credentials the functions read at cold start).
 */
import type { CallGate, Json, Send } from './endpoint';

const OPERATIONS = new Set(['GetSecretValue', 'GetParameter', 'GetParameters']);

/** The secrets and parameters, and their answers. */
export class LocalSecrets {
  /** Secrets Manager secrets (SecretString) by name or ARN. */
  readonly secrets = new Map<string, string>();
  /** SSM parameter values by name. */
  readonly parameters = new Map<string, string>();

  /** True for the operations these stores answer. */
  answers(operation: string): boolean {
    return OPERATIONS.has(operation);
  }

  /** Answers one Secrets Manager or SSM call (after counting it and its faults at `gate`). */
  answer(operation: string, input: Json, gate: CallGate, send: Send): void {
    const fault = gate.enter(operation);
    if (fault)
      return send(fault.status ?? 400, { __type: fault.code, message: fault.message ?? `injected ${fault.code}` });
    switch (operation) {
      case 'GetSecretValue': {
        const id = String(input.SecretId);
        const value = this.secrets.get(id);
        if (value === undefined)
          return send(400, {
            __type: 'ResourceNotFoundException',
            message: "Secrets Manager can't find the specified secret.",
          });
        return send(200, {
          ARN: id.startsWith('arn:') ? id : `arn:aws:secretsmanager:us-east-1:123456789012:secret:${id}`,
          Name: id,
          SecretString: value,
          VersionId: 'v1',
        });
      }
      case 'GetParameter': {
        const name = String(input.Name);
        const value = this.parameters.get(name);
        if (value === undefined)
          return send(400, { __type: 'ParameterNotFound', message: `parameter ${name} not found` });
        return send(200, { Parameter: { Name: name, Type: 'SecureString', Value: value, Version: 1 } });
      }
      case 'GetParameters': {
        const names = (input.Names as string[]) ?? [];
        return send(200, {
          Parameters: names
            .filter((n) => this.parameters.has(n))
            .map((n) => ({ Name: n, Type: 'SecureString', Value: this.parameters.get(n), Version: 1 })),
          InvalidParameters: names.filter((n) => !this.parameters.has(n)),
        });
      }
      default:
        return send(400, {
          __type: 'UnknownOperationException',
          message: `local endpoint does not implement ${operation}`,
        });
    }
  }
}
