export declare const FUNCTIONS: string[];
export declare const esbuildOptions: Record<string, unknown>;
export declare function buildFunctions(outdir?: string): Promise<
  Record<
    string,
    {
      entryBytes: number;
      loadedBytes: number;
      loadedPackages: Record<string, number>;
      totalBytes: number;
      files: { file: string; bytes: number }[];
    }
  >
>;
