/*

sync_fifo: a first-word-fall-through FIFO of WIDTH-bit entries

Contract: an entry pushed at a rising edge with in_valid high (and in_ready high) is
shown on out_data with out_valid high from the next cycle on, in push order; it leaves at
an edge where out_valid and out_ready are both high. count is the number of entries
held (0..DEPTH). in_ready = (count < DEPTH); a push and a pop may happen at one edge.
The accelerator uses it for the write-back path (address FIFO, then address + data to
the DRAM port), sized so its credits never overflow it.

Timing: latency 1 from push to out_valid; throughput one entry per cycle.

Reset: rst is synchronous and active high and empties the FIFO.

*/

// Language: Verilog 2005

`resetall
`timescale 1ns / 1ps
`default_nettype none

module sync_fifo #
(
    // Width of an entry (>= 1)
    parameter WIDTH = 16,
    // Number of entries, a power of two (>= 2)
    parameter DEPTH = 16,
    // Derived widths, leave at their defaults
    parameter AW = $clog2(DEPTH),
    parameter CW = $clog2(DEPTH + 1)
)
(
    input  wire              clk,
    input  wire              rst,

    /*
     * Push side
     */
    input  wire [WIDTH-1:0]  in_data,
    input  wire              in_valid,
    output wire              in_ready,

    /*
     * Pop side
     */
    output wire [WIDTH-1:0]  out_data,
    output wire              out_valid,
    input  wire              out_ready,

    output wire [CW-1:0]     count
);

// check configuration
initial begin
    if (WIDTH < 1) begin
        $error("Error: WIDTH must be at least 1, got %0d (instance %m)", WIDTH);
        $finish;
    end
    if (DEPTH < 2 || (DEPTH & (DEPTH - 1)) != 0) begin
        $error("Error: DEPTH must be a power of two >= 2, got %0d (instance %m)", DEPTH);
        $finish;
    end
end

reg [WIDTH-1:0] mem [0:DEPTH-1];
reg [AW:0]      wr_ptr_reg, rd_ptr_reg;

wire [AW:0] fill = wr_ptr_reg - rd_ptr_reg;
wire        push = in_valid && in_ready;
wire        pop = out_valid && out_ready;

assign count = fill[CW-1:0];
assign in_ready = !fill[AW];  // fill < DEPTH (fill never exceeds DEPTH)
assign out_valid = wr_ptr_reg != rd_ptr_reg;
assign out_data = mem[rd_ptr_reg[AW-1:0]];

always @(posedge clk) begin
    if (push) begin
        mem[wr_ptr_reg[AW-1:0]] <= in_data;
        wr_ptr_reg <= wr_ptr_reg + 1'b1;
    end
    if (pop) begin
        rd_ptr_reg <= rd_ptr_reg + 1'b1;
    end

    if (rst) begin
        wr_ptr_reg <= {(AW+1){1'b0}};
        rd_ptr_reg <= {(AW+1){1'b0}};
    end
end

endmodule

`resetall
