{{ config(tags=['critical']) }}

-- no raw table holds a dlt variant column (`spend__v_text`: values that did not fit their column's type,
-- NULL in the typed column) that no model reads: such values would be missing from Silver and Gold without
-- an error. One row per raw dataset, table and unread variant column (macros/raw_variant_columns.sql)
with

unread_variants as (

    {{ unread_raw_variant_rows() }}

)

select * from unread_variants
