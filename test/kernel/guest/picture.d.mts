export declare function pictureXrgb(width: number, height: number, seed: number): Buffer;
export declare function pictureRgb(width: number, height: number, seed: number): Buffer;
