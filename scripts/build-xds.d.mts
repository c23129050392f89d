export declare const XDS_FILE: string;
export declare function buildXds(outdir?: string): Promise<{ file: string; bytes: number }>;
