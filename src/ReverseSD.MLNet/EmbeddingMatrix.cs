using Microsoft.ML;
using Microsoft.ML.Data;

namespace ReverseSD.MLNet;

/// <summary>A dense row-major float matrix read from a vector column (one row per data view row).</summary>
internal sealed class EmbeddingMatrix
{
    public EmbeddingMatrix(float[] values, int rows, int columns)
    {
        if (values.Length != (long)rows * columns)
            throw new ArgumentException($"A {rows}×{columns} matrix needs {(long)rows * columns} values, got {values.Length}.");
        Values = values;
        Rows = rows;
        Columns = columns;
    }

    /// <summary>Row-major values.</summary>
    public float[] Values { get; }

    public int Rows { get; }

    public int Columns { get; }

    /// <summary>Row <paramref name="i"/> as a span.</summary>
    public ReadOnlySpan<float> Row(int i) => Values.AsSpan(i * Columns, Columns);

    /// <summary>Builds a matrix from equally long rows.</summary>
    public static EmbeddingMatrix FromRows(IReadOnlyList<float[]> rows)
    {
        if (rows.Count == 0) throw new ArgumentException("At least one row is needed.", nameof(rows));
        int d = rows[0].Length;
        var values = new float[rows.Count * d];
        for (int i = 0; i < rows.Count; i++)
        {
            if (rows[i].Length != d) throw new ArgumentException($"Row {i} has {rows[i].Length} values, row 0 has {d}.", nameof(rows));
            rows[i].CopyTo(values, i * d);
        }
        return new EmbeddingMatrix(values, rows.Count, d);
    }

    /// <summary>
    /// Reads a known-size float vector column; <paramref name="role"/> names the option or data set in error messages.
    /// </summary>
    public static EmbeddingMatrix Read(IDataView data, string columnName, string role)
    {
        int d = InputColumns.RequireFloatVector(data.Schema, columnName, role);
        var column = data.Schema[columnName];
        long? known = data.GetRowCount();
        var values = new float[known is { } count ? checked((int)(count * d)) : 1024 * d];
        int rows = 0;
        using (var cursor = data.GetRowCursor([column]))
        {
            var getter = cursor.GetGetter<VBuffer<float>>(column);
            VBuffer<float> buffer = default;
            while (cursor.MoveNext())
            {
                getter(ref buffer);
                if ((long)(rows + 1) * d > values.Length)
                    Array.Resize(ref values, checked((int)Math.Min((long)values.Length * 2, Array.MaxLength)));
                buffer.CopyTo(values.AsSpan(rows * d, d));
                rows++;
            }
        }
        if (rows == 0)
            throw new ReverseSdInputException($"The {role} has no rows: column '{columnName}' must hold at least one vector.");
        if ((long)rows * d != values.Length) Array.Resize(ref values, rows * d);
        return new EmbeddingMatrix(values, rows, d);
    }

    /// <summary>Row-major values with each row scaled to unit L2 norm (zero rows stay zero).</summary>
    internal static float[] NormaliseRows(float[] values, int columns)
    {
        var result = new float[values.Length];
        for (int start = 0; start < values.Length; start += columns)
        {
            double sum = 0;
            for (int j = 0; j < columns; j++) sum += (double)values[start + j] * values[start + j];
            double norm = Math.Max(Math.Sqrt(sum), 1e-12);
            for (int j = 0; j < columns; j++) result[start + j] = (float)(values[start + j] / norm);
        }
        return result;
    }

    /// <summary>The transpose of a row-major <paramref name="rows"/> × <paramref name="columns"/> matrix.</summary>
    internal static float[] Transpose(float[] values, int rows, int columns)
    {
        var result = new float[values.Length];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < columns; j++)
                result[j * rows + i] = values[i * columns + j];
        return result;
    }
}
