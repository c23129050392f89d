export declare const GO_PACKAGES: string[];
export declare const GOCODE: string;
export declare function goInteropMissing(): string | undefined;
