/*

accel_tb: runs the generated accelerator top (accel_top) on a program and a DRAM image
(simulation only; Verilator --binary or Icarus)

Plusargs (hwgen.compiler.simulate passes them):
    +program=FILE   the program, $readmemh, one 1312-bit instruction per line
    +dram=FILE      the DRAM image, $readmemh, one 16-bit word per line
    +words=N        how many words the image has (and the dump writes back)
    +dump=FILE      where the DRAM is written after HALT
    +trace=FILE     one line "pc cycle" per fetched instruction, then "done cycle"
    +max_cycles=N   give up (exit with an error line) after N cycles (default 50,000,000)
    +vcd=FILE       record every signal as a VCD waveform (Verilator: a --trace build)

The clock period is 10 time units; cycle 0 is the first edge after reset.

*/

// Language: Verilog 2005

`resetall
`timescale 1ns / 1ps
`default_nettype none

module accel_tb #
(
    // Address width of the program memory (the generated top's PROG_AW)
    parameter PROG_AW = 10,
    // DRAM address width (2**DRAM_AW words)
    parameter DRAM_AW = 20,
    // DRAM read latency, cycles
    parameter LATENCY = 8,
    // DRAM backpressure: one stall cycle after every STALL_EVERY requests
    parameter STALL_EVERY = 16,
    // DRAM words per line (the top's DW)
    parameter DW = 1
)
();

reg clk = 1'b0;
reg rst = 1'b1;
reg start = 1'b0;

always #5 clk = ~clk;

reg  [1311:0] prog [0:(1<<PROG_AW)-1];
reg  [1311:0] prog_q;
wire [PROG_AW-1:0] prog_addr;

wire        req_valid, req_ready, req_we, rsp_valid, trace_valid, busy, done;
wire [31:0] req_addr;
wire [DW*16-1:0] req_wdata, rsp_data;
wire [DW-1:0] req_wstrb;
wire [PROG_AW-1:0] trace_pc;

accel_top dut (
    .clk(clk), .rst(rst), .start(start), .busy(busy), .done(done),
    .prog_addr(prog_addr), .prog_data(prog_q),
    .mem_req_valid(req_valid), .mem_req_ready(req_ready), .mem_req_we(req_we),
    .mem_req_addr(req_addr), .mem_req_wdata(req_wdata), .mem_req_wstrb(req_wstrb),
    .mem_rsp_valid(rsp_valid), .mem_rsp_data(rsp_data),
    .trace_valid(trace_valid), .trace_pc(trace_pc)
);

dram_model #(.AW(DRAM_AW), .LATENCY(LATENCY), .STALL_EVERY(STALL_EVERY), .DW(DW)) dram (
    .clk(clk), .rst(rst),
    .req_valid(req_valid), .req_ready(req_ready), .req_we(req_we), .req_addr(req_addr),
    .req_wdata(req_wdata), .req_wstrb(req_wstrb), .rsp_valid(rsp_valid), .rsp_data(rsp_data)
);

always @(posedge clk) begin
    prog_q <= prog[prog_addr];
end

reg [1023:0] program_file, dram_file, dump_file, trace_file, vcd_file;
integer words, max_cycles, trace_fd, cycle;

initial begin
    if (!$value$plusargs("program=%s", program_file)) begin
        $display("accel_tb: error: +program=FILE is required");
        $finish;
    end
    if (!$value$plusargs("dram=%s", dram_file) || !$value$plusargs("words=%d", words)) begin
        $display("accel_tb: error: +dram=FILE and +words=N are required");
        $finish;
    end
    if (!$value$plusargs("dump=%s", dump_file)) dump_file = "dram_out.hex";
    if (!$value$plusargs("trace=%s", trace_file)) trace_file = "trace.txt";
    if (!$value$plusargs("max_cycles=%d", max_cycles)) max_cycles = 50000000;
    if ($value$plusargs("vcd=%s", vcd_file)) begin
        $dumpfile(vcd_file);
        $dumpvars(0, accel_tb);
    end
    $readmemh(program_file, prog);
    $readmemh(dram_file, dram.mem, 0, words - 1);
    trace_fd = $fopen(trace_file, "w");
    cycle = 0;
    repeat (4) @(posedge clk);
    rst <= 1'b0;
    @(posedge clk);
    start <= 1'b1;
    @(posedge clk);
    start <= 1'b0;
end

always @(posedge clk) begin
    if (!rst) begin
        cycle <= cycle + 1;
        if (trace_valid) begin
            $fwrite(trace_fd, "%0d %0d\n", trace_pc, cycle);
        end
        if (done) begin
            $fwrite(trace_fd, "done %0d\n", cycle);
            $fclose(trace_fd);
            $writememh(dump_file, dram.mem, 0, words - 1);
            $finish;
        end
        if (cycle >= max_cycles) begin
            $display("accel_tb: error: no HALT after %0d cycles (pc %0d)", cycle, prog_addr);
            $fwrite(trace_fd, "timeout %0d\n", cycle);
            $fclose(trace_fd);
            $finish;
        end
    end
end

endmodule

`resetall
