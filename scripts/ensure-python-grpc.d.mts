export declare const PYTHON_PACKAGES: string[];
export declare const PYTHON: string;
export declare function pythonGrpcMissing(): string | undefined;
export declare function interopRequired(env?: Record<string, string | undefined>): boolean;
