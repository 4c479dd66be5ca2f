/** A number sent as `double_value` even when it is integral (`double(2)`); plain numbers that are
 *  safe integers are sent as `int_value`. */
export declare class DoubleValue {
    readonly value: number;
    constructor(value: number);
}
/** Marks `value` as a floating-point attribute even if it is a whole number. */
export declare function double(value: number): DoubleValue;
/** An attribute value: its JSON type picks the protobuf type (see wire.ts encodeAttributeValue). */
export type AttributeValue = string | number | bigint | boolean | DoubleValue;
export type Attributes = Record<string, AttributeValue> | Map<string, AttributeValue>;
