export declare const CLI_FILE: string;
export declare function buildCli(outdir?: string): Promise<{ file: string; bytes: number }>;
